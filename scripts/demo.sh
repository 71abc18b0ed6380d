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
scrub_pid=""
cleanup() {
  set +e
  if [ -n "$daemon_pid" ]; then kill -TERM "$daemon_pid"; wait "$daemon_pid" 2>/dev/null; fi
  "$HOSTD" teardown --state-dir "$work/state" --socket "$work/hostd.sock" --fabric "$fabric" 2>>"$work/daemon.log"
  if [ -n "$scrub_pid" ]; then kill -TERM "$scrub_pid"; wait "$scrub_pid" 2>/dev/null; fi
  for mode in on off; do
    "$HOSTD" teardown --state-dir "$work/$mode" --socket "$work/$mode.sock" --fabric "$fabric$mode" 2>>"$work/daemon.log"
  done
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

id_of() { sed -n 's/.*"\(i-[0-9a-f]*\)".*/\1/p' | head -1; }
field() { sed -n "s/.*\"$1\": \"\([^\"]*\)\".*/\1/p" | head -1; }

bold "Two tenants, each with a VPC: the same CIDR on purpose"
vpc_a=$(hostd vpc create --cidr 10.0.0.0/16 --name tenant-a | field VpcId)
vpc_b=$(hostd vpc create --cidr 10.0.0.0/16 --name tenant-b | field VpcId)
sub_a=$(hostd subnet create --vpc "$vpc_a" --cidr 10.0.1.0/24 | field SubnetId)
sub_b=$(hostd subnet create --vpc "$vpc_b" --cidr 10.0.1.0/24 | field SubnetId)
show hostd -o table vpc describe
launch() { hostd instance run --subnet "$1" --memory 64M --pids 100 -- sleep 3600 | id_of; }
a=$(launch "$sub_a"); a2=$(launch "$sub_a"); a3=$(launch "$sub_a")
b=$(launch "$sub_b")
ip_of() { hostd instance describe "$1" | field PrivateIpAddress; }
echo "  tenant A: $a ($(ip_of "$a")), $a2 ($(ip_of "$a2")), $a3 ($(ip_of "$a3"))"
echo "  tenant B: $b ($(ip_of "$b")): the same address as $a, in another VPC"

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

bold "7. The network: instances of a tenant talk; across tenants nothing passes"
show exec_in "$a" hostd probe ping --addr "$(ip_of "$a2")"
show exec_in "$b" hostd probe ping --addr "$(ip_of "$a2")"

# attack runs one attack and records a row of the table: what we expect and what we saw.
rows=()
record() { rows+=("$1|$2|$3"); }
# listen_for PORT: instance a2 waits for one UDP datagram; prints what arrived, or nothing.
listen_for() { hostd instance exec "$a2" -- hostd probe listen --proto udp --port "$1" --timeout 2s 2>/dev/null | field Received; }

bold "8. Attacks from tenant A's own instance $a on its neighbour $a2"
attempt() { # PORT DESCRIPTION PROBE-SEND-ARGS...
  local port=$1 what=$2; shift 2
  listen_for "$port" > "$work/got" & local l=$!
  sleep 0.3
  printf '\033[36m$ hostd instance exec %s -- hostd probe send %s\033[0m\n' "$a" "$*"
  hostd instance exec "$a" -- hostd probe send --dst-ip "$(ip_of "$a2")" --dport "$port" "$@" >/dev/null
  wait $l || true  # nothing arriving is the protected outcome
  if [ -s "$work/got" ]; then record "$what" "dropped" "DELIVERED"; else record "$what" "dropped" "dropped"; fi
}
attempt 7001 "forged source IP" --proto udp --src-ip 10.0.1.99 --payload forged-ip
attempt 7002 "forged source MAC" --proto udp --src-mac 02:66:66:66:66:66 --payload forged-mac
attempt 68 "DHCP server reply" --proto dhcp-offer --payload offer
# The victim must already know the neighbour for a forged reply to matter (Linux ignores replies
# about strangers), and entries younger than a second are locked.
hostd instance exec "$a3" -- hostd probe ping --addr "$(ip_of "$a2")" >/dev/null
sleep 1.1
printf '\033[36m$ hostd instance exec %s -- hostd probe send --proto arp --arp-op reply --src-ip %s --arp-target %s\033[0m\n' "$a" "$(ip_of "$a2")" "$(ip_of "$a3")"
hostd instance exec "$a" -- hostd probe send --proto arp --arp-op reply --src-ip "$(ip_of "$a2")" --arp-target "$(ip_of "$a3")" >/dev/null
neigh=$(hostd instance exec "$a3" -- ip neigh show "$(ip_of "$a2")" | awk '{print $5}')
if [ "$neigh" = 02:00:00:00:00:01 ]; then record "ARP reply claiming a neighbour's address" "ignored" "ignored"; else record "ARP reply claiming a neighbour's address" "ignored" "POISONED ($neigh)"; fi

echo "  Meanwhile $a3 sniffs in promiscuous mode while $a and $a2 talk:"
hostd instance exec "$a3" -- hostd probe sniff --seconds 2 > "$work/sniff" &
s=$!
sleep 0.3
hostd instance exec "$a" -- hostd probe ping --addr "$(ip_of "$a2")" >/dev/null
hostd instance exec "$a2" -- hostd probe ping --addr "$(ip_of "$a")" >/dev/null
wait $s || true
seen=$(grep -c "\"$(ip_of "$a")\"\|\"$(ip_of "$a2")\"" "$work/sniff" || true)
if [ "$seen" = 0 ]; then record "promiscuous sniffing of neighbours" "sees nothing" "saw nothing"; else record "promiscuous sniffing of neighbours" "sees nothing" "SAW TRAFFIC"; fi
if hostd instance exec "$b" -- hostd probe ping --addr "$(ip_of "$a2")" --timeout 1s >/dev/null 2>&1; then record "tenant B reaching tenant A" "no route" "REACHED"; else record "tenant B reaching tenant A" "no route" "no route"; fi

echo
printf '  %-40s %-14s %s\n' ATTACK EXPECTED OBSERVED
for r in "${rows[@]}"; do IFS='|' read -r what want got <<<"$r"; printf '  %-40s %-14s %s\n' "$what" "$want" "$got"; done
echo
echo "  What the datapath counted on $a's interface:"
hostd instance describe "$a" | sed -n '/DropCounters/,/}/p' | sed 's/^ */    /'

bold "9. Security groups: a web tier and a database tier in tenant A's VPC"
sub_web=$(hostd subnet create --vpc "$vpc_a" --cidr 10.0.2.0/24 | field SubnetId)
sub_db=$(hostd subnet create --vpc "$vpc_a" --cidr 10.0.3.0/24 | field SubnetId)
sg_web=$(hostd sg create --vpc "$vpc_a" --name web --description "web tier" | field GroupId)
sg_db=$(hostd sg create --vpc "$vpc_a" --name db --description "database tier" | field GroupId)
printf '\033[36m$ hostd sg create --vpc %s --name web\033[0m  -> %s (and db -> %s)\n' "$vpc_a" "$sg_web" "$sg_db"
echo "  The database port, from members of the web group only:"
show hostd sg authorize --group "$sg_db" --ingress --protocol tcp --port 5432 --source-group "$sg_web"
show hostd sg describe "$sg_db"
web=$(hostd instance run --subnet "$sub_web" --sg "$sg_web" -- sleep 3600 | id_of)
db=$(hostd instance run --subnet "$sub_db" --sg "$sg_db" -- sleep 3600 | id_of)
echo "  web: $web ($(ip_of "$web")), db: $db ($(ip_of "$db")), both with real TCP: the db serves on 5432"
hostd instance exec "$db" -- hostd probe serve --port 5432 --seconds 12 >/dev/null &
serve_pid=$!
sleep 0.3
rr() { hostd instance exec "$1" -- hostd probe rr --addr "$(ip_of "$db"):5432" --seconds "$2"; }
show rr "$web" 0.5
echo "  $a is in the VPC's default group, not in web: refused"
show rr "$a" 0.5
echo "  A 5-second connection from web; 1 s in, the rule is revoked:"
rr "$web" 5 > "$work/long" 2>&1 &
long=$!
sleep 1
show hostd sg revoke --group "$sg_db" --ingress --protocol tcp --port 5432 --source-group "$sg_web"
echo "  A new connection is refused..."
show rr "$web" 0.5
wait $long || true
echo "  ...while the established one went on to the end (tracked flows outlive their rule):"
sed 's/^/  /' "$work/long"

bold "10. Network ACLs: stateless, numbered, at the subnet's edge"
show hostd sg authorize --group "$sg_db" --ingress --protocol tcp --port 5432 --source-group "$sg_web"
acl=$(hostd nacl create --vpc "$vpc_a" | field NetworkAclId)
show hostd nacl associate --nacl "$acl" --subnet "$sub_db"
echo "  A new ACL denies everything entering or leaving the db subnet:"
show rr "$web" 0.5
show hostd nacl entry --nacl "$acl" --rule-number 100 --ingress --action allow --protocol tcp --port 5432 --cidr 10.0.2.0/24
show hostd nacl entry --nacl "$acl" --rule-number 100 --egress --action allow --protocol tcp --port 1024-65535 --cidr 10.0.2.0/24
show rr "$web" 0.5
echo "  What the datapath counted on the database's interface:"
hostd instance describe "$db" | sed -n '/DropCounters/,/}/p' | sed 's/^ */    /'
wait "$serve_pid" || true # it serves until its deadline

bold "Terminating every instance"
show hostd instance terminate "$a" "$a2" "$a3" "$b" "$web" "$db"

# remanence SCRUB: a daemon of its own whose RAM pool holds exactly one 4 MiB region, so that
# tenant B necessarily gets the region tenant A left.
remanence() {
  local mode=$1
  # Every command below talks to this daemon; cleanup names each daemon's paths itself.
  export HOSTD_SOCKET=$work/$mode.sock HOSTD_STATE_DIR=$work/$mode
  "$HOSTD" serve --fabric "$fabric$mode" --ram-pool 4M --disk-size 64M --scrub "$mode" 2>>"$work/daemon-$mode.log" &
  scrub_pid=$!
  for _ in $(seq 100); do hostd pool describe >/dev/null 2>&1 && break; sleep 0.05; done
  local ta tb va vb
  va=$(hostd volume create --size 16M | field VolumeId)
  ta=$(hostd instance run --ram 4M --volume "$va:/dev/xvdb" -- sleep 3600 | id_of)
  show exec_in "$ta" sh -c 'echo "card 4111-1111-1111-1111 of tenant A" | tee /dev/guest-ram | dd of=/dev/xvdb conv=notrunc,fsync 2>/dev/null; head -c 36 /dev/guest-ram; echo; head -c 36 /dev/xvdb; echo'
  echo "  Tenant A ($ta: RAM region $(hostd instance describe "$ta" | field RegionId), volume $va at store offset $(hostd volume describe "$va" | sed -n 's/.*"StoreOffset": \([0-9]*\).*/\1/p')) leaves and deletes its volume."
  hostd instance terminate "$ta" >/dev/null
  hostd volume delete "$va" >/dev/null
  vb=$(hostd volume create --size 16M | field VolumeId)
  tb=$(hostd instance run --ram 4M --volume "$vb:/dev/xvdb" -- sleep 3600 | id_of)
  echo "  Tenant B ($tb) gets RAM region $(hostd instance describe "$tb" | field RegionId) and volume $vb at store offset $(hostd volume describe "$vb" | sed -n 's/.*"StoreOffset": \([0-9]*\).*/\1/p'), and reads both:"
  show exec_in "$tb" sh -c 'head -c 36 /dev/guest-ram | od -An -c | head -3; head -c 36 /dev/xvdb | od -An -c | head -3'
  show hostd -o table pool describe
  hostd instance terminate "$tb" >/dev/null
  hostd volume delete "$vb" >/dev/null
  kill -TERM "$scrub_pid"; wait "$scrub_pid" 2>/dev/null || true
  scrub_pid=""
}

bold "9. Remanence: tenant A leaves a secret in its RAM and on its volume; tenant B gets the same region and the same disk extent (scrubbing on)"
remanence on
grep -m3 "RAM region scrubbed\|extent wiped" "$work/daemon-on.log" | sed 's/^/  log: /'

bold "10. THE UNPROTECTED CASE: the same with scrubbing turned off (--scrub off)"
echo "  This is what hostd prevents; never run a daemon like this for real tenants."
remanence off
grep -m4 -i "is OFF\|UNSCRUBBED\|UNWIPED" "$work/daemon-off.log" | sed 's/^/  log: /'
echo
echo "Done. The daemons are stopped and everything they made is removed on exit (hostd teardown)."
