// Package bpf holds hostd's eBPF datapath: the C sources beside this file and the Go bindings
// bpf2go generates from them. The generated object and Go files are committed, so building hostd
// needs no clang; `make generate` (clang and llvm: scripts/install-bpf-deps.sh) rebuilds them.
package bpf

//go:generate go tool bpf2go -cc clang -cflags "-O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu" -target bpfel -type iface -type iface_flag -type endpoint_key -type endpoint -type drop_key -type drop_reason -type rule_set_bits -type rule_peer_bits -type rule_protocol -type rule_block -type rule_class_key -type rule_port_key -type rule_port_bits -type ct_key -type ct_kind -type ct_entry -type ct_collect_args -type iface_usage -type config -type svc_const -type svc_iface -type svc_rate -type svc_flow_key -type svc_flow -type svc_config -type flow_stage -type flow_record_key -type flow_counts -type flow_skip_key Datapath datapath.c
