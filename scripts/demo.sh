#!/usr/bin/env bash
# make demo: start a throwaway hostd, launch one instance for each of two tenants, and show what
# isolates them, one readable command at a time. Everything is removed at the end, even on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
HOSTD=$PWD/bin/hostd
[ "$(id -u)" = 0 ] || { echo "make demo needs root (namespaces, cgroups)"; exit 1; }

work=$(mktemp -d /var/tmp/hostd-demo-XXXXXX)
chmod 755 "$work"
export HOSTD_SOCKET=$work/hostd.sock HOSTD_STATE_DIR=$work/state
fabric=demo$$
daemon_pid=""
cleanup() {
  set +e
  if [ -n "$daemon_pid" ]; then kill -TERM "$daemon_pid"; wait "$daemon_pid" 2>/dev/null; fi
  "$HOSTD" teardown --fabric "$fabric" 2>>"$work/daemon.log"
  rm -rf "$work"
}
trap cleanup EXIT

bold() { printf '\n\033[1m%s\033[0m\n' "$*"; }
# show prints a command as the user would type it, then runs it; a failing command is expected in
# some steps, so its status is printed instead of stopping the demo.
show() {
  if [ "$1" = exec_in ]; then
    printf '\033[36m$ hostd instance exec %s -- %s\033[0m\n' "$2" "${*:3}"
  else
    printf '\033[36m$ %s\033[0m\n' "$*"
  fi
  set +e
  "$@" 2>&1 | sed 's/^/  /'
  local rc=${PIPESTATUS[0]}
  set -e
  [ "$rc" = 0 ] || printf '  \033[33m(exit status %s)\033[0m\n' "$rc"
}
exec_in() { local id=$1; shift; hostd instance exec "$id" -- "$@"; }
hostd() { "$HOSTD" "$@"; }

bold "Starting a throwaway daemon (state in $work, fabric netns hostd-$fabric)"
"$HOSTD" serve --fabric "$fabric" 2>"$work/daemon.log" &
daemon_pid=$!
for _ in $(seq 100); do hostd instance describe >/dev/null 2>&1 && break; sleep 0.05; done

bold "Two tenants each launch an instance"
a=$(hostd instance run --memory 64M --pids 100 -- sleep 3600 | sed -n 's/.*"InstanceId": "\(.*\)".*/\1/p')
b=$(hostd instance run --memory 64M --pids 100 -- sleep 3600 | sed -n 's/.*"InstanceId": "\(.*\)".*/\1/p')
echo "  tenant A: $a"
echo "  tenant B: $b"
show hostd -o table instance describe

bold "1. Each sees only its own processes (its own PID namespace; PID 1 is its init)"
show exec_in "$a" ps -eo pid,user,args
show exec_in "$b" ps -eo pid,user,args

bold "2. Each has its own hostname"
show exec_in "$a" hostname
show exec_in "$b" hostname

bold "3. Filesystem writes stay private: A writes a file; B and the host do not see it"
show exec_in "$a" sh -c 'echo "tenant A secret" > /tmp/secret && cat /tmp/secret'
show exec_in "$b" cat /tmp/secret
show ls /tmp/secret
echo "  The host's root is read-only inside:"
show exec_in "$a" touch /usr/bin/evil

bold "4. Root in the guest is an unprivileged uid on the host"
show exec_in "$a" id
show exec_in "$a" cat /proc/self/uid_map
echo "  So a root-only host file stays closed to guest root:"
show ls -l /etc/shadow
show exec_in "$a" cat /etc/shadow

bold "5. No block device can be opened or made"
dev=$(ls /sys/class/block | head -1)
show ls -l "/dev/$dev"
show exec_in "$a" head -c 16 "/dev/$dev"
show exec_in "$a" mknod /tmp/disk b "$(cut -d: -f1 "/sys/class/block/$dev/dev")" "$(cut -d: -f2 "/sys/class/block/$dev/dev")"
show exec_in "$a" cat /sys/fs/cgroup/devices/devices.list

bold "6. Limits are the instance's own cgroup, visible inside"
show exec_in "$a" sh -c 'echo memory: $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes) bytes, pids: $(cat /sys/fs/cgroup/pids/pids.max)'

bold "Terminating both instances"
show hostd instance terminate "$a" "$b"
echo
echo "Done. The daemon is stopped and everything it made is removed on exit (hostd teardown)."
