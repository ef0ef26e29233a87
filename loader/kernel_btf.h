// SPDX-License-Identifier: GPL-2.0-only
// What the running kernel's BTF (/sys/kernel/btf/vmlinux) says it has: the feature checks that
// choose which of our programs to load, and names for the kernel's enum values.
#pragma once

#include <string>
#include <vector>

namespace kecho::loader {

// A kernel function (or kfunc) by name.
bool kernel_has_function(const char* name);

// The arguments a tracepoint passes to tp_btf programs (its btf_trace_<name> typedef, the context
// pointer left out); -1 when the kernel has no such tracepoint.
int tracepoint_arguments(const char* name);

// The names of an enum's values, indexed by value (values past `size` are left out, gaps are "").
std::vector<std::string> kernel_enum_names(const char* enum_name, std::size_t size);

}  // namespace kecho::loader
