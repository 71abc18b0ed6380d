#!/usr/bin/env bash
# Installs what `make generate` needs to rebuild the eBPF objects from bpf/*.c: clang and llvm
# (bpf2go compiles with clang and strips with llvm-strip) and the kernel and libbpf headers.
# Building and testing hostd does not need any of this: the generated objects are committed.
set -euo pipefail
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang llvm libbpf-dev linux-libc-dev
clang --version | head -1
