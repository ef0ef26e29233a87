// SPDX-License-Identifier: GPL-2.0-only
// The owners of libbpf's objects (katran's BpfSkeleton): a bpftool skeleton, destroyed with its
// T::destroy (links, maps and programs with it), and a ring buffer manager.
#pragma once

#include <memory>

struct ring_buffer;

namespace kecho::loader {

template <class Skeleton>
struct SkeletonDeleter {
    void operator()(Skeleton* skeleton) const { Skeleton::destroy(skeleton); }
};
template <class Skeleton>
using SkeletonPtr = std::unique_ptr<Skeleton, SkeletonDeleter<Skeleton>>;

struct RingBufferDeleter {
    void operator()(ring_buffer* rb) const;  // ring_buffer__free
};
using RingBufferPtr = std::unique_ptr<ring_buffer, RingBufferDeleter>;

}  // namespace kecho::loader
