// SPDX-License-Identifier: GPL-2.0-only
#include "kernel_btf.h"

#include <bpf/btf.h>

#include <memory>

namespace kecho::loader {
namespace {

struct BtfDeleter {
    void operator()(btf* b) const { btf__free(b); }
};
using KernelBtf = std::unique_ptr<btf, BtfDeleter>;

KernelBtf load_kernel_btf() {
    return KernelBtf(btf__load_vmlinux_btf());
}

}  // namespace

bool kernel_has_function(const char* name) {
    KernelBtf vmlinux = load_kernel_btf();
    return vmlinux && btf__find_by_name_kind(vmlinux.get(), name, BTF_KIND_FUNC) > 0;
}

int tracepoint_arguments(const char* name) {
    KernelBtf vmlinux = load_kernel_btf();
    if (!vmlinux) return -1;
    const int id = btf__find_by_name_kind(vmlinux.get(), (std::string("btf_trace_") + name).c_str(), BTF_KIND_TYPEDEF);
    if (id <= 0) return -1;
    // typedef -> pointer -> function prototype (void *ctx, the tracepoint's arguments...)
    const btf_type* pointer = btf__type_by_id(vmlinux.get(), btf__type_by_id(vmlinux.get(), id)->type);
    const btf_type* proto = pointer ? btf__type_by_id(vmlinux.get(), pointer->type) : nullptr;
    return proto && btf_is_func_proto(proto) ? btf_vlen(proto) - 1 : -1;
}

std::vector<std::string> kernel_enum_names(const char* enum_name, std::size_t size) {
    std::vector<std::string> names(size);
    KernelBtf vmlinux = load_kernel_btf();
    const int id = vmlinux ? btf__find_by_name_kind(vmlinux.get(), enum_name, BTF_KIND_ENUM) : -1;
    if (id <= 0) return names;
    const btf_type* type = btf__type_by_id(vmlinux.get(), id);
    const struct btf_enum* values = btf_enum(type);  // "struct": btf_enum is a function too
    for (int i = 0; i < btf_vlen(type); ++i)
        if (values[i].val >= 0 && static_cast<std::size_t>(values[i].val) < size)
            names[static_cast<std::size_t>(values[i].val)] = btf__name_by_offset(vmlinux.get(), values[i].name_off);
    return names;
}

}  // namespace kecho::loader
