# SPDX-License-Identifier: GPL-2.0-only
# bpf_object(NAME): compiles bpf/NAME.bpf.c with clang for the BPF target,
# strips DWARF (BTF stays), generates NAME.skel.h with bpftool, and exposes
# an INTERFACE target NAME_skel whose include path holds the skeleton.
# BPF compile flags stay here and never reach the C++ targets.

find_program(BPF_CLANG NAMES clang clang-16 clang-15 clang-14 REQUIRED)
find_program(BPF_STRIP NAMES llvm-strip llvm-strip-16 llvm-strip-15 llvm-strip-14 REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin REQUIRED)

set(BPF_VMLINUX_DIR "${CMAKE_SOURCE_DIR}/vmlinux/x86" CACHE PATH "Directory with the vendored vmlinux.h")

function(bpf_object name)
  set(src "${CMAKE_SOURCE_DIR}/bpf/${name}.bpf.c")
  set(obj "${CMAKE_CURRENT_BINARY_DIR}/bpf/${name}.bpf.o")
  set(skel "${CMAKE_CURRENT_BINARY_DIR}/bpf/${name}.skel.h")
  file(GLOB headers "${CMAKE_SOURCE_DIR}/bpf/*.h")
  add_custom_command(
    OUTPUT "${obj}"
    COMMAND ${CMAKE_COMMAND} -E make_directory "${CMAKE_CURRENT_BINARY_DIR}/bpf"
    COMMAND ${BPF_CLANG} -g -O2 -Wall -Werror -target bpf -D__TARGET_ARCH_x86
            -I "${BPF_VMLINUX_DIR}" -I "${CMAKE_SOURCE_DIR}/bpf"
            -c "${src}" -o "${obj}"
    COMMAND ${BPF_STRIP} -g "${obj}"
    DEPENDS "${src}" ${headers} "${BPF_VMLINUX_DIR}/vmlinux.h"
    COMMENT "BPF ${name}.bpf.c"
    VERBATIM)
  add_custom_command(
    OUTPUT "${skel}"
    COMMAND ${BPFTOOL} gen skeleton "${obj}" name "${name}_bpf" > "${skel}"
    DEPENDS "${obj}"
    COMMENT "skeleton ${name}.skel.h"
    VERBATIM)
  add_custom_target(${name}_skel_gen DEPENDS "${skel}")
  add_library(${name}_skel INTERFACE)
  add_dependencies(${name}_skel ${name}_skel_gen)
  target_include_directories(${name}_skel INTERFACE "${CMAKE_CURRENT_BINARY_DIR}/bpf")
endfunction()
