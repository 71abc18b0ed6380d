#!/usr/bin/env bash
# make demo: start a throwaway hostd, attack its isolation from inside real instances, one readable
# command at a time, and end with a scorecard: for each protection, the attack, what happened
# with the protection on and, where the demo shows it, off. Every verdict is computed from what
# the demo observed. `make demo-quick` (--quick) runs the same attacks and prints only the
# scorecard. Everything is removed at the end, on failure and on Ctrl-C too. The exit status is
# 1 if any protection failed.
#
# The verdicts are shell tests given as strings and evaluated once the observations are in:
# shellcheck disable=SC2016,SC2034
set -euo pipefail
cd "$(dirname "$0")/.."
HOSTD=$PWD/bin/hostd
quick=false
[ "${1:-}" = --quick ] && quick=true
[ "$(id -u)" = 0 ] || { echo "make demo needs root (namespaces, cgroups)" >&2; exit 1; }

work=$(mktemp -d /var/tmp/hostd-demo-XXXXXX)
chmod 755 "$work"
export HOSTD_SOCKET=$work/hostd.sock HOSTD_STATE_DIR=$work/state
fabric=demo$$
ctl=hostd-demo$$-ctl # the plain Linux bridge of the unprotected cases: $ctl-br, $ctl-h1…h3
daemon_pid=""
scrub_pid=""
scored=false # the scorecard is out

# fd 3 is where the scorecard goes, fd 4 the user's stderr; --quick sends the rest to a log.
if $quick; then
  exec 3>&1 4>&2 >"$work/demo.log" 2>&1
  echo "Running every attack of make demo (about half a minute); only the scorecard is printed." >&4
else
  exec 3>&1 4>&2
fi
B="" C="" Y="" R=""
if [ -t 3 ]; then B=$'\033[1m' C=$'\033[36m' Y=$'\033[33m' R=$'\033[0m'; fi

cleanup() {
  local rc=$?
  set +e
  trap - INT TERM
  # Probes an interrupted step left running, then the daemons and all they made.
  for p in $(jobs -p); do kill "$p" 2>/dev/null; done
  for p in $daemon_pid $scrub_pid; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  "$HOSTD" teardown --state-dir "$work/state" --socket "$work/hostd.sock" --fabric "$fabric" 2>>"$work/daemon.log"
  for mode in on off; do
    "$HOSTD" teardown --state-dir "$work/$mode" --socket "$work/$mode.sock" --fabric "$fabric$mode" 2>>"$work/daemon.log"
  done
  for ns in br h1 h2 h3; do ip netns del "$ctl-$ns" 2>/dev/null; done
  if [ "$rc" != 0 ] && ! $scored && $quick; then
    echo "make demo-quick stopped (status $rc); the last lines it logged:" >&4
    tail -n 20 "$work/demo.log" >&4
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

n=0
section() { n=$((n + 1)); printf '\n%s%d. %s%s\n' "$B" "$n" "$*" "$R"; }
say() { printf '\n%s%s%s\n' "$B" "$*" "$R"; }
# show prints a command as the user would type it and runs it; its output is printed indented and
# kept in $work/last, its status in $status: a refused attack fails, which is no error here.
show() {
  if [ "$1" = exec_in ]; then
    printf '%s$ hostd instance exec %s -- %s%s\n' "$C" "$2" "$(words "${@:3}")" "$R"
  else
    printf '%s$ %s%s\n' "$C" "$(words "$@")" "$R"
  fi
  set +e
  "$@" >"$work/last" 2>&1
  status=$?
  set -e
  sed 's/^/  /' "$work/last"
  [ "$status" = 0 ] || printf '  %s(exit status %s)%s\n' "$Y" "$status" "$R"
}
# words ARG...: the arguments as a shell would read them back, quoted where they need it.
words() {
  local w out=()
  for w in "$@"; do
    case $w in *[[:space:]\'\"\$\;\&\|\<\>\(\)\*]* | '') out+=("'${w//\'/\'\\\'\'}'") ;; *) out+=("$w") ;; esac
  done
  echo "${out[*]}"
}
exec_in() { local id=$1; shift; hostd instance exec "$id" -- "$@"; }
hostd() { "$HOSTD" "$@"; }
id_of() { sed -n 's/.*"\(i-[0-9a-f]*\)".*/\1/p' | head -1; }
field() { sed -n "s/.*\"$1\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p" | head -1; }
ip_of() { hostd instance describe "$1" | field PrivateIpAddress; }
# drops ID REASON: what the datapath counted on the instance's interface for REASON.
drops() { local v; v=$(hostd instance describe "$1" | field "$2"); echo "${v:-0}"; }

# The scorecard. score PROTECTION ATTACK HELD ON [OFF] adds its line: HELD is "ok" when what was
# observed with the protection on is what it promises, ON and OFF say what was observed, OFF "-"
# where the demo shows no unprotected case. A new row is one more score line.
rows=()
score() { rows+=("$1|$2|$3|$4|${5:--}"); }
# held TEST: "ok" if the shell test TEST (a string, evaluated) holds, else "FAIL".
held() { if eval "$1"; then echo ok; else echo FAIL; fi; }
# when TEST YES NO: YES if TEST holds, else NO; for the cells.
when() { if eval "$1"; then echo "$2"; else echo "$3"; fi; }

say "Starting a throwaway daemon (state in $work, fabric netns hostd-$fabric)"
"$HOSTD" serve --fabric "$fabric" --listen 127.0.0.1:0 2>"$work/daemon.log" &
daemon_pid=$!
for _ in $(seq 100); do hostd instance describe >/dev/null 2>&1 && break; sleep 0.05; done

say "Two tenants, each with a VPC: the same CIDR on purpose"
vpc_a=$(hostd vpc create --cidr 10.0.0.0/16 --name tenant-a | field VpcId)
vpc_b=$(hostd vpc create --cidr 10.0.0.0/16 --name tenant-b | field VpcId)
sub_a=$(hostd subnet create --vpc "$vpc_a" --cidr 10.0.1.0/24 | field SubnetId)
sub_b=$(hostd subnet create --vpc "$vpc_b" --cidr 10.0.1.0/24 | field SubnetId)
launch() { hostd instance run --subnet "$1" --memory 64M --pids 100 -- sleep 3600 | id_of; }
a=$(launch "$sub_a"); a2=$(launch "$sub_a"); a3=$(launch "$sub_a")
b=$(launch "$sub_b")
ip_a=$(ip_of "$a") ip_a2=$(ip_of "$a2") ip_a3=$(ip_of "$a3")
show hostd -o table vpc describe
show hostd -o table instance describe
echo "  Tenant A: $a, $a2 and $a3. Tenant B: $b, at $ip_a like $a, in another VPC."

section "Processes: each instance sees only its own (its own PID namespace; PID 1 is its init)"
show exec_in "$a" ps -eo pid,user,args
guest_procs=$(($(wc -l <"$work/last") - 1))
guest_sees_daemon=$(grep -c "hostd serve" "$work/last" || true)
host_procs=$(($(ps -e | wc -l) - 1))
echo "  The host runs $host_procs processes, the daemon among them."
score "processes" "list every process on the machine" "$(held '[ "$guest_sees_daemon" = 0 ] && [ "$guest_procs" -lt "$host_procs" ]')" \
  "sees its own $guest_procs" "host: sees $host_procs"

section "Hostname: guest root renames its machine; only its own UTS namespace changes"
host_name=$(hostname)
show exec_in "$b" sh -c 'hostname evil && hostname'
show exec_in "$a" hostname
a_name=$(cat "$work/last")
show hostname
score "hostname" "guest root renames the machine" \
  "$(held '[ "$(hostname)" = "$host_name" ] && [ "$a_name" = "$a" ]')" \
  "$(when '[ "$(hostname)" = "$host_name" ]' "host name kept" "HOST RENAMED")"

section "Files: A's /tmp is its own, and the host's root is read-only"
show exec_in "$a" sh -c 'echo "tenant A secret" > /tmp/secret && cat /tmp/secret'
show exec_in "$b" cat /tmp/secret
b_read=$status
show ls /tmp/secret
host_read=$status
show exec_in "$a" touch /usr/bin/evil
touched=$status
score "files" "read A's /tmp from B; write /usr" \
  "$(held '[ "$b_read" != 0 ] && [ "$host_read" != 0 ] && [ "$touched" != 0 ]')" \
  "$(when '[ "$b_read" != 0 ] && [ "$touched" != 0 ]' "unseen; / read-only" "READ OR WRITTEN")"

section "Root on the host: root in the guest is an unprivileged uid outside"
show exec_in "$a" id
show exec_in "$a" cat /proc/self/uid_map
echo "  So a root-only host file stays closed to guest root:"
show ls -l /etc/shadow
show exec_in "$a" cat /etc/shadow
guest_shadow=$status
host_shadow=$(when 'head -c 1 /etc/shadow >/dev/null 2>&1' "host root reads it" "host root cannot")
score "root on the host" "guest root reads /etc/shadow" "$(held '[ "$guest_shadow" != 0 ]')" \
  "$(when '[ "$guest_shadow" != 0 ]' "permission denied" "READ IT")" "$host_shadow"

section "Block devices: none of the host's can be opened or made"
dev=""
for d in /sys/block/*; do
  case ${d##*/} in loop* | ram* | zram* | nbd* | sr* | dm-* | md*) ;; *) dev=${d##*/}; break ;; esac
done
if [ -z "$dev" ]; then all=(/sys/class/block/*); dev=${all[0]##*/}; fi
show ls -l "/dev/$dev"
show exec_in "$a" head -c 16 "/dev/$dev"
opened=$status
show exec_in "$a" mknod /tmp/disk b "$(cut -d: -f1 "/sys/class/block/$dev/dev")" "$(cut -d: -f2 "/sys/class/block/$dev/dev")"
made=$status
show exec_in "$a" cat /sys/fs/cgroup/devices/devices.list
score "block devices" "open or mknod the host's disk" "$(held '[ "$opened" != 0 ] && [ "$made" != 0 ]')" \
  "$(when '[ "$opened" != 0 ] && [ "$made" != 0 ]' "no device, no mknod" "OPENED")" \
  "$(when 'head -c 16 "/dev/$dev" >/dev/null 2>&1' "host root reads it" "-")"

section "Limits: the instance's own cgroup; a memory hog past --memory 64M is killed"
show exec_in "$a3" sh -c 'echo memory: $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes) bytes, pids: $(cat /sys/fs/cgroup/pids/pids.max)'
# tail -n 1 must hold the whole line, and 128 MiB of zeros is one line; wc counts what got out.
hog='head -c 134217728 /dev/zero | tail -n 1 | wc -c'
show exec_in "$a3" sh -c "$hog"
small_got=$(tr -dc 0-9 <"$work/last")
big=$(hostd instance run --memory 512M -- sleep 3600 | id_of)
echo "  The same hog in $big, launched with --memory 512M:"
show exec_in "$big" sh -c "$hog"
big_got=$(tr -dc 0-9 <"$work/last")
score "limits" "allocate 128MiB under --memory 64M" "$(held '[ "$small_got" != 134217728 ]')" \
  "$(when '[ "$small_got" != 134217728 ]' "hog killed" "ALLOCATED IT")" \
  "$(when '[ "$big_got" = 134217728 ]' "limit 512M: got it" "-")"

section "The network: instances of a tenant talk; across tenants nothing passes"
show exec_in "$a" hostd probe ping --addr "$ip_a2"
same_tenant=$status
show exec_in "$b" hostd probe ping --addr "$ip_a2"
cross_tenant=$status

section "Spoofing and sniffing: tenant A's first instance attacks its two neighbours"
# A's default group lets in UDP from anywhere in the VPC, so that only the spoofing checks stand in
# the way of a forged source address.
sg_a=$(hostd instance describe "$a" | field GroupId)
hostd sg authorize --group "$sg_a" --ingress --protocol udp --port 7001-7002 --cidr 10.0.0.0/16 >/dev/null
# attempt LISTEN SEND PORT ARGS...: LISTEN waits for one UDP datagram on PORT while SEND sends ARGS
# (probe send); prints what arrived, or nothing. LISTEN and SEND run a command in a host.
attempt() {
  local listen=$1 send=$2 port=$3
  shift 3
  $listen hostd probe listen --proto udp --port "$port" --timeout 2s >"$work/got" 2>/dev/null &
  local l=$!
  sleep 0.3
  $send hostd probe send --dport "$port" "$@" >/dev/null
  wait "$l" || true # nothing arriving is the protected outcome
  field Received <"$work/got"
}
in_a() { "$HOSTD" instance exec "$a" -- "$@"; }
in_a2() { "$HOSTD" instance exec "$a2" -- "$@"; }
printf '%s$ hostd instance exec %s -- hostd probe send --proto udp --src-ip 10.0.1.99 …%s\n' "$C" "$a" "$R"
on_ip=$(attempt in_a2 in_a 7001 --dst-ip "$ip_a2" --proto udp --src-ip 10.0.1.99 --payload forged-ip)
printf '%s$ hostd instance exec %s -- hostd probe send --proto udp --src-mac 02:66:66:66:66:66 …%s\n' "$C" "$a" "$R"
on_mac=$(attempt in_a2 in_a 7002 --dst-ip "$ip_a2" --proto udp --src-mac 02:66:66:66:66:66 --payload forged-mac)
printf '%s$ hostd instance exec %s -- hostd probe send --proto dhcp-offer …%s\n' "$C" "$a" "$R"
on_dhcp=$(attempt in_a2 in_a 68 --dst-ip "$ip_a2" --proto dhcp-offer --payload offer)
# The victim must already know the neighbour for a forged reply to matter (Linux ignores replies
# about strangers), and entries younger than a second are locked.
hostd instance exec "$a3" -- hostd probe ping --addr "$ip_a2" >/dev/null
sleep 1.1
show exec_in "$a" hostd probe send --proto arp --arp-op reply --src-ip "$ip_a2" --arp-target "$ip_a3" --count 3
show exec_in "$a3" ip neigh show "$ip_a2"
on_arp=$(awk '{print $5}' "$work/last")
echo "  Meanwhile $a3 sniffs in promiscuous mode while $a and $a2 talk:"
hostd instance exec "$a3" -- hostd probe sniff --seconds 2 >"$work/sniff" &
s=$!
sleep 0.3
hostd instance exec "$a" -- hostd probe ping --addr "$ip_a2" >/dev/null
hostd instance exec "$a2" -- hostd probe ping --addr "$ip_a" >/dev/null
wait $s || true
on_sniffed=$(grep -c "\"Src\": \"$ip_a\"\|\"Src\": \"$ip_a2\"" "$work/sniff" || true)
show hostd -o table instance describe "$a" "$a2" "$a3"
echo "  What the datapath dropped of $a's, by reason:"
hostd instance describe "$a" | sed -n '/DropCounters/,/}/p' | sed '1d;$d;s/^ */    /'

section "The same attacks without hostd: three network namespaces on a plain Linux bridge"
# Ageing time 0: the bridge learns no address and floods every frame, as a hub or any shared
# segment would. h1 attacks, h2 is its neighbour, h3 the victim of the ARP reply and the sniffer.
ip netns add "$ctl-br"
ip -n "$ctl-br" link add br0 type bridge ageing_time 0
ip -n "$ctl-br" link set br0 up
for i in 1 2 3; do
  ip netns add "$ctl-h$i"
  ip -n "$ctl-br" link add "p$i" type veth peer name eth0 netns "$ctl-h$i"
  ip -n "$ctl-br" link set "p$i" master br0 up
  ip -n "$ctl-h$i" link set eth0 address "02:77:00:00:00:0$i" up
  ip -n "$ctl-h$i" addr add "10.77.0.$i/24" dev eth0
done
# in_hN CMD...: runs CMD in host N of the bridge, "hostd" being this hostd (in an instance it is
# on the PATH).
on_bridge() { local n=$1 c=$2; shift 2; [ "$c" = hostd ] && c=$HOSTD; ip netns exec "$ctl-h$n" "$c" "$@"; }
in_h1() { on_bridge 1 "$@"; }
in_h2() { on_bridge 2 "$@"; }
in_h3() { on_bridge 3 "$@"; }
to_h2=(--dst-ip 10.77.0.2 --dst-mac 02:77:00:00:00:02)
off_ip=$(attempt in_h2 in_h1 7001 "${to_h2[@]}" --proto udp --src-ip 10.77.0.99 --payload forged-ip)
off_mac=$(attempt in_h2 in_h1 7002 "${to_h2[@]}" --proto udp --src-mac 02:66:66:66:66:66 --payload forged-mac)
off_dhcp=$(attempt in_h2 in_h1 68 "${to_h2[@]}" --proto dhcp-offer --payload offer)
in_h3 hostd probe ping --addr 10.77.0.2 >/dev/null
sleep 1.1
in_h1 hostd probe send --proto arp --arp-op reply --src-ip 10.77.0.2 --arp-target 10.77.0.3 --dst-mac 02:77:00:00:00:03 --count 3 >/dev/null
off_arp=$(in_h3 ip neigh show 10.77.0.2 | awk '{print $5}')
in_h3 hostd probe sniff --seconds 2 >"$work/sniff" &
s=$!
sleep 0.3
in_h1 hostd probe ping --addr 10.77.0.2 >/dev/null
wait $s || true
off_sniffed=$(grep -c '"Src": "10.77.0.1"\|"Src": "10.77.0.2"' "$work/sniff" || true)
# h3's table now sends h2's address to h1: B's ping goes to h1, the first host.
off_cross=$(when 'in_h3 hostd probe ping --addr 10.77.0.1 >/dev/null 2>&1' "bridge: reached" "-")
printf '  %-28s %-30s %s\n' ATTACK "IN HOSTD" "ON THE BRIDGE"
arrived() { if [ -n "$1" ]; then echo "arrived: \"$1\""; else echo "dropped"; fi; }
printf '  %-28s %-30s %s\n' "forged source IP" "$(arrived "$on_ip")" "$(arrived "$off_ip")"
printf '  %-28s %-30s %s\n' "forged source MAC" "$(arrived "$on_mac")" "$(arrived "$off_mac")"
printf '  %-28s %-30s %s\n' "DHCP server reply" "$(arrived "$on_dhcp")" "$(arrived "$off_dhcp")"
printf '  %-28s %-30s %s\n' "ARP reply for a neighbour" "victim has $on_arp" "victim has $off_arp"
printf '  %-28s %-30s %s\n' "promiscuous sniffing" "saw $on_sniffed flows of others" "saw $off_sniffed flows of others"
for ns in br h1 h2 h3; do ip netns del "$ctl-$ns"; done

# dropped_by ON REASON: the attack's packet did not arrive, and the datapath counted it under REASON.
dropped_by() { [ -z "$1" ] && [ "$(drops "$a" "$2")" -gt 0 ]; }
bridge() { if [ -n "$1" ]; then echo "bridge: arrived"; else echo "-"; fi; }
score "spoofed IP" "send from another source IP" "$(held 'dropped_by "$on_ip" spoof-ip')" "$(arrived "$on_ip")" "$(bridge "$off_ip")"
score "spoofed MAC" "send from another MAC" "$(held 'dropped_by "$on_mac" spoof-mac')" "$(arrived "$on_mac")" "$(bridge "$off_mac")"
score "spoofed ARP" "ARP reply claiming another's IP" "$(held '[ "$on_arp" = 02:00:00:00:00:01 ]')" \
  "$(when '[ "$on_arp" = 02:00:00:00:00:01 ]' "victim unpoisoned" "POISONED")" \
  "$(when '[ "$off_arp" = 02:77:00:00:00:01 ]' "bridge: poisoned" "-")"
score "spoofed DHCP" "answer as a DHCP server" "$(held 'dropped_by "$on_dhcp" dhcp-server')" "$(arrived "$on_dhcp")" "$(bridge "$off_dhcp")"
score "sniffing" "promiscuous capture of neighbours" "$(held '[ "$on_sniffed" = 0 ]')" "saw $on_sniffed flows" \
  "$(when '[ "$off_sniffed" -gt 0 ]' "bridge: $off_sniffed flows" "-")"
score "cross-tenant" "B pings A's neighbour (same IPs)" "$(held '[ "$same_tenant" = 0 ] && [ "$cross_tenant" != 0 ]')" \
  "$(when '[ "$cross_tenant" != 0 ]' "no reply" "REPLIED")" "$off_cross"

section "Security groups: a web tier and a database tier in tenant A's VPC"
sub_web=$(hostd subnet create --vpc "$vpc_a" --cidr 10.0.2.0/24 | field SubnetId)
sub_db=$(hostd subnet create --vpc "$vpc_a" --cidr 10.0.3.0/24 | field SubnetId)
sg_web=$(hostd sg create --vpc "$vpc_a" --name web --description "web tier" | field GroupId)
sg_db=$(hostd sg create --vpc "$vpc_a" --name db --description "database tier" | field GroupId)
printf '%s$ hostd sg create --vpc %s --name web%s  -> %s (and db -> %s)\n' "$C" "$vpc_a" "$R" "$sg_web" "$sg_db"
echo "  The database port, from members of the web group only:"
show hostd -o table sg authorize --group "$sg_db" --ingress --protocol tcp --port 5432 --source-group "$sg_web"
web=$(hostd instance run --subnet "$sub_web" --sg "$sg_web" -- sleep 3600 | id_of)
db=$(hostd instance run --subnet "$sub_db" --sg "$sg_db" -- sleep 3600 | id_of)
ip_db=$(ip_of "$db")
echo "  web: $web ($(ip_of "$web")), db: $db ($ip_db), with real TCP: the db serves on 5432"
hostd instance exec "$db" -- hostd probe serve --port 5432 --seconds 30 >/dev/null 2>&1 &
db_serve=$!
sleep 0.3
# rr FROM SECONDS: request/response over TCP from FROM to the db for SECONDS, in one line.
rr() {
  local out
  if out=$(hostd instance exec "$1" -- hostd probe rr --addr "$ip_db:5432" --seconds "$2" 2>&1); then
    echo "connected: $(field Transactions <<<"$out") requests answered in $2 s"
  else
    echo "$out"
    return 1
  fi
}
show rr "$web" 0.5
web_ok=$status
echo "  $a is in the VPC's default group, not in web: refused"
show rr "$a" 0.5
a_refused=$status
echo "  Unprotected: with the port opened to the whole VPC, the same connection goes through"
hostd sg authorize --group "$sg_db" --ingress --protocol tcp --port 5432 --cidr 10.0.0.0/16 >/dev/null
show rr "$a" 0.5
a_open=$status
hostd sg revoke --group "$sg_db" --ingress --protocol tcp --port 5432 --cidr 10.0.0.0/16 >/dev/null
score "security groups" "non-member connects to db:5432" "$(held '[ "$web_ok" = 0 ] && [ "$a_refused" != 0 ]')" \
  "$(when '[ "$a_refused" != 0 ]' "refused" "CONNECTED")" "$(when '[ "$a_open" = 0 ]' "opened: connects" "-")"

section "Tracked flows on revoke: a connection in progress outlives its rule; new ones are refused"
echo "  A 5-second connection from web; 1 s in, the rule is revoked:"
hostd instance exec "$web" -- hostd probe rr --addr "$ip_db:5432" --seconds 5 >"$work/long" 2>&1 &
long=$!
sleep 1
show hostd sg revoke --group "$sg_db" --ingress --protocol tcp --port 5432 --source-group "$sg_web"
echo "  A new connection is refused..."
show rr "$web" 0.5
new_refused=$status
long_status=0
wait $long || long_status=$?
long_secs=$(field Seconds <"$work/long" | cut -d. -f1)
echo "  ...while the established one went on to the end: $(field Transactions <"$work/long") requests answered" \
  "in ${long_secs:-0} s, the longest wait $(($(field MaxGapMicros <"$work/long") / 1000)) ms (status $long_status)."
score "tracked flows" "revoke the rule mid-connection" "$(held '[ "$long_status" = 0 ] && [ "${long_secs:-0}" -ge 4 ] && [ "$new_refused" != 0 ]')" \
  "$(when '[ "$long_status" = 0 ] && [ "$new_refused" != 0 ]' "kept; new refused" "BROKEN")"

section "Network ACLs: stateless, numbered, at the subnet's edge"
hostd sg authorize --group "$sg_db" --ingress --protocol tcp --port 5432 --source-group "$sg_web" >/dev/null
echo "  The rule is back; under the VPC's default ACL, which allows everything, web connects:"
show rr "$web" 0.5
no_acl=$status
acl=$(hostd nacl create --vpc "$vpc_a" | field NetworkAclId)
show hostd nacl associate --nacl "$acl" --subnet "$sub_db"
echo "  A new ACL denies everything entering or leaving the db subnet:"
show rr "$web" 0.5
acl_refused=$status
show hostd nacl entry --nacl "$acl" --rule-number 100 --ingress --action allow --protocol tcp --port 5432 --cidr 10.0.2.0/24
show hostd nacl entry --nacl "$acl" --rule-number 100 --egress --action allow --protocol tcp --port 1024-65535 --cidr 10.0.2.0/24
show rr "$web" 0.5
acl_allowed=$status
show hostd -o table nacl describe "$acl"
score "network ACLs" "connect through a denying ACL" "$(held '[ "$acl_refused" != 0 ] && [ "$acl_allowed" = 0 ]')" \
  "$(when '[ "$acl_refused" != 0 ]' "refused" "CONNECTED")" \
  "$(when '[ "$no_acl" = 0 ]' "default ACL: ok" "-")"

section "Guest services: each instance's own name files, its VPC's resolver, its own metadata"
echo "  The host's resolv.conf names resolvers a guest cannot reach; each instance has its own:"
show exec_in "$a" cat /etc/resolv.conf
show exec_in "$a" getent hosts "$a2.ec2.internal" "ip-${ip_a3//./-}.ec2.internal"
a_resolves=$(grep -c "^$ip_a2 \|^$ip_a3 " "$work/last" || true)
echo "  Tenant B's resolver knows nothing of tenant A's instances, though B has A's very address:"
show exec_in "$b" getent hosts "$a2.ec2.internal"
b_resolves=$status
echo "  The metadata service (169.254.169.254): tokens are required, as for EC2's new instances."
show exec_in "$a" curl -s -m 3 -w ' (HTTP %{http_code})\n' http://169.254.169.254/latest/meta-data/instance-id
no_token=$(grep -o 'HTTP [0-9]*' "$work/last" | cut -d' ' -f2 || true)
get_id='TOKEN=$(curl -s -X PUT -H "X-aws-ec2-metadata-token-ttl-seconds: 60" http://169.254.169.254/latest/api/token)
curl -s -H "X-aws-ec2-metadata-token: $TOKEN" http://169.254.169.254/latest/meta-data/instance-id; echo'
show exec_in "$a" sh -c "$get_id"
a_id_seen=$(cat "$work/last")
show exec_in "$b" sh -c "$get_id"
b_id_seen=$(cat "$work/last")
echo "  Without required tokens (--metadata-tokens optional), the same request without one is served:"
opt=$(hostd instance run --subnet "$sub_a" --metadata-tokens optional -- sleep 3600 | id_of)
show exec_in "$opt" curl -s -m 3 -w ' (HTTP %{http_code})\n' http://169.254.169.254/latest/meta-data/instance-id
opt_served=$(grep -o 'HTTP [0-9]*' "$work/last" || true)
score "VPC DNS" "B resolves A's names (same CIDR)" "$(held '[ "$a_resolves" = 2 ] && [ "$b_resolves" != 0 ]')" \
  "$(when '[ "$b_resolves" != 0 ]' "A's own only" "B RESOLVED")" "$(when '[ "$a_resolves" = 2 ]' "A: both names" "-")"
score "metadata tokens" "read metadata without a token" "$(held '[ "$no_token" = 401 ] && [ "$a_id_seen" = "$a" ]')" \
  "$no_token; token: own id" "$(when '[ "$opt_served" = "HTTP 200" ]' "optional: served" "-")"
score "IMDS identity" "B (A's address) reads metadata" "$(held '[ "$b_id_seen" = "$b" ]')" \
  "$(when '[ "$b_id_seen" = "$b" ]' "its own id" "OTHER'S ID")"

# remanence SCRUB: a daemon of its own whose RAM pool holds exactly one 4 MiB region, so that
# tenant B necessarily gets the region tenant A left; its disk store likewise hands B A's extent.
# Sets ram_MODE and disk_MODE to what B read, and same_MODE to whether B got A's region and extent.
remanence() {
  local mode=$1
  # Every command below talks to this daemon; cleanup names each daemon's paths itself.
  export HOSTD_SOCKET=$work/$mode.sock HOSTD_STATE_DIR=$work/$mode
  "$HOSTD" serve --fabric "$fabric$mode" --ram-pool 4M --disk-size 64M --scrub "$mode" 2>>"$work/daemon-$mode.log" &
  scrub_pid=$!
  for _ in $(seq 100); do hostd pool describe >/dev/null 2>&1 && break; sleep 0.05; done
  local ta tb va vb where_a where_b
  va=$(hostd volume create --size 16M | field VolumeId)
  ta=$(hostd instance run --ram 4M --volume "$va:/dev/xvdb" -- sleep 3600 | id_of)
  show exec_in "$ta" sh -c 'echo "card 4111-1111-1111-1111 of tenant A" | tee /dev/guest-ram | dd of=/dev/xvdb conv=notrunc,fsync 2>/dev/null; head -c 36 /dev/guest-ram; echo; head -c 36 /dev/xvdb; echo'
  where_a="$(hostd instance describe "$ta" | field RegionId) $(hostd volume describe "$va" | field StoreOffset)"
  echo "  Tenant A ($ta: RAM region and volume store offset: $where_a) leaves and deletes its volume."
  hostd instance terminate "$ta" >/dev/null
  hostd volume delete "$va" >/dev/null
  vb=$(hostd volume create --size 16M | field VolumeId)
  tb=$(hostd instance run --ram 4M --volume "$vb:/dev/xvdb" -- sleep 3600 | id_of)
  where_b="$(hostd instance describe "$tb" | field RegionId) $(hostd volume describe "$vb" | field StoreOffset)"
  echo "  Tenant B ($tb) gets RAM region and store offset $where_b, and reads both:"
  show exec_in "$tb" sh -c 'head -c 36 /dev/guest-ram | od -An -c | head -3; head -c 36 /dev/xvdb | od -An -c | head -3'
  printf -v "ram_$mode" '%s' "$(hostd instance exec "$tb" -- head -c 36 /dev/guest-ram | tr -d '\0')"
  printf -v "disk_$mode" '%s' "$(hostd instance exec "$tb" -- head -c 36 /dev/xvdb | tr -d '\0')"
  printf -v "same_$mode" '%s' "$([ "$where_a" = "$where_b" ] && echo yes || echo no)"
  show hostd -o table pool describe
  hostd instance terminate "$tb" >/dev/null
  hostd volume delete "$vb" >/dev/null
  kill -TERM "$scrub_pid"
  wait "$scrub_pid" 2>/dev/null || true
  scrub_pid=""
}

section "Tenants with access keys: B's key on A's instance; the audit trail of it all"
endpoint=http://$(sed -n 's/.*network listener serving signed calls" listen=\([^ ]*\).*/\1/p' "$work/daemon.log" | head -1)
export AWS_SHARED_CREDENTIALS_FILE=$work/credentials
allow_all='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'
# tenant NAME: an account (its id in $acct), a user with a policy and a key, whose credentials go
# into profile NAME.
tenant() {
  local key
  acct=$(hostd account create --name "$1" --max-instances 5 | field AccountId)
  hostd user create --account "$acct" --name admin >/dev/null
  hostd user put-policy --account "$acct" --name admin --policy-name all --policy-document "$allow_all" >/dev/null
  key=$(hostd access-key create --account "$acct" --user admin)
  printf '[%s]\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$1" "$(field AccessKeyId <<<"$key")" "$(field SecretAccessKey <<<"$key")" >>"$AWS_SHARED_CREDENTIALS_FILE"
}
tenant acme
tenant globex
globex=$acct
echo "  Two accounts (acme, globex), each with a user allowed everything in its own account and an"
echo "  access key in a profile of $AWS_SHARED_CREDENTIALS_FILE; the daemon serves signed calls at $endpoint."
show hostd --endpoint "$endpoint" --profile acme instance run --ram 0 -- sleep 3600
key_inst=$(id_of <"$work/last")
show hostd --endpoint "$endpoint" --profile globex instance terminate "$key_inst"
key_refused=$status
grep -q '"InvalidInstanceID.NotFound"' "$work/last" && key_notfound=yes || key_notfound=no
show hostd --endpoint "$endpoint" --profile globex -o table instance describe
globex_sees=$(hostd --endpoint "$endpoint" --profile globex instance describe | grep -c '"InstanceId"' || true)
show hostd --endpoint "$endpoint" --profile acme instance terminate "$key_inst"
key_own=$status
score "tenant keys" "B's key terminates A's instance" "$(held '[ "$key_refused" != 0 ] && [ "$key_notfound" = yes ] && [ "$globex_sees" = 0 ]')" \
  "$(when '[ "$key_notfound" = yes ]' "NotFound: unseen" "TERMINATED")" "$(when '[ "$key_own" = 0 ]' "A's own: ended it" "-")"

section "EC2's own API: acme's key builds a web and a db tier with the AWS CLI; hostd enforces it"
if [ -x /usr/bin/aws ]; then
  export AWS_DEFAULT_REGION=us-east-1 AWS_CONFIG_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true AWS_PAGER= AWS_MAX_ATTEMPTS=1
  ec2() { aws --profile acme --endpoint-url "$endpoint" --output text ec2 "$@"; }
  echo "  (ec2 is: aws --profile acme --endpoint-url $endpoint --output text ec2)"
  ami=$(ec2 describe-images --filters Name=name,Values=hostd-host-root --query 'Images[0].ImageId')
  cli_vpc=$(ec2 create-vpc --cidr-block 10.0.0.0/16 --query Vpc.VpcId)
  cli_net=$(ec2 create-subnet --vpc-id "$cli_vpc" --cidr-block 10.0.1.0/24 --query Subnet.SubnetId)
  cli_web=$(ec2 create-security-group --vpc-id "$cli_vpc" --group-name web --description web --query GroupId)
  cli_db=$(ec2 create-security-group --vpc-id "$cli_vpc" --group-name db --description db --query GroupId)
  printf '%s$ ec2 create-vpc …; create-subnet …; create-security-group … (web, db)%s  -> %s %s %s %s\n' "$C" "$R" "$cli_vpc" "$cli_net" "$cli_web" "$cli_db"
  show ec2 authorize-security-group-ingress --group-id "$cli_db" \
    --ip-permissions "IpProtocol=tcp,FromPort=5432,ToPort=5432,UserIdGroupPairs=[{GroupId=$cli_web}]"
  show ec2 run-instances --image-id "$ami" --instance-type t3.nano --subnet-id "$cli_net" --security-group-ids "$cli_db" \
    --private-ip-address 10.0.1.10 --user-data $'#!/bin/sh\nexec hostd probe serve --port 5432 --seconds 60' --query 'Instances[0].InstanceId'
  cli_dbi=$(cat "$work/last")
  cli_webi=$(ec2 run-instances --image-id "$ami" --subnet-id "$cli_net" --security-group-ids "$cli_web" --query 'Instances[0].InstanceId')
  cli_other=$(ec2 run-instances --image-id "$ami" --subnet-id "$cli_net" --query 'Instances[0].InstanceId')
  echo "  web: $cli_webi, and $cli_other in the VPC's default group; the db ($cli_dbi) serves on 5432"
  show ec2 describe-instances --filters Name=vpc-id,Values="$cli_vpc" --query 'Reservations[].Instances[].[InstanceId,PrivateIpAddress,SecurityGroups[0].GroupName]'
  for _ in $(seq 50); do hostd instance exec "$cli_webi" -- hostd probe rr --addr 10.0.1.10:5432 --seconds 0.2 >/dev/null 2>&1 && break; sleep 0.1; done
  show hostd instance exec "$cli_webi" -- hostd probe rr --addr 10.0.1.10:5432 --seconds 0.3
  cli_web_ok=$status
  show hostd instance exec "$cli_other" -- hostd probe rr --addr 10.0.1.10:5432 --seconds 0.3
  cli_other_refused=$status
  show ec2 terminate-instances --instance-ids "$cli_dbi" "$cli_webi" "$cli_other" --query 'TerminatingInstances[].CurrentState.Name'
  score "EC2 API" "AWS CLI's db admits web only" "$(held '[ "$cli_web_ok" = 0 ] && [ "$cli_other_refused" != 0 ]')" \
    "$(when '[ "$cli_other_refused" != 0 ]' "other refused" "CONNECTED")" "$(when '[ "$cli_web_ok" = 0 ]' "web: connects" "-")"
else
  echo "  skipped: no AWS CLI (/usr/bin/aws; Debian's awscli package)"
fi

say "Every call of the demo is in the audit trail, hash-chained and signed; an edit is found"
show hostd audit lookup --account "$globex" --event-name TerminateInstances
show hostd audit verify
trail_ok=$status
mkdir "$work/tampered"
cp -a "$work/state/audit" "$work/state/keys" "$work/tampered/"
trail_files=("$work/tampered/audit/"*.jsonl)
trail_file=${trail_files[-1]}
sed -i '2s/"awsRegion":"us-east-1"/"awsRegion":"us-west-2"/' "$trail_file"
echo "  A copy of the trail with one field of its second record changed, then:"
show hostd audit verify --state-dir "$work/tampered"
trail_caught=$status
grep -q "line 2" "$work/last" && trail_where=yes || trail_where=no
score "audit trail" "edit a record of the demo's trail" "$(held '[ "$trail_ok" = 0 ] && [ "$trail_caught" != 0 ] && [ "$trail_where" = yes ]')" \
  "$(when '[ "$trail_caught" != 0 ]' "edit found: line 2" "EDIT UNSEEN")" "-"

section "Remanence: tenant A leaves a secret in its RAM and on its volume; B gets the same region and extent"
remanence on
grep -m3 "RAM region scrubbed\|extent wiped" "$work/daemon-on.log" | sed 's/^/  log: /' || true

section "Remanence, unprotected: the same with scrubbing turned off (--scrub off)"
echo "  This is what hostd prevents; never run a daemon like this for real tenants."
remanence off
grep -m4 -i "is OFF\|UNSCRUBBED\|UNWIPED" "$work/daemon-off.log" | sed 's/^/  log: /' || true
# leaked TEXT: B read A's secret.
leaked() { case $1 in *4111-1111*) return 0 ;; esac; return 1; }
score "RAM remanence" "read the last tenant's RAM" "$(held '[ "$same_on" = yes ] && ! leaked "$ram_on"')" \
  "$(when '! leaked "$ram_on"' "zeros" "SECRET READ")" "$(when 'leaked "$ram_off"' "scrub off: read it" "-")"
score "disk remanence" "read the last tenant's disk extent" "$(held '[ "$same_on" = yes ] && ! leaked "$disk_on"')" \
  "$(when '! leaked "$disk_on"' "zeros" "SECRET READ")" "$(when 'leaked "$disk_off"' "scrub off: read it" "-")"

section "Watching the network: A's first instance scans the database; a finding names it, and the db's flow log shows the REJECTs"
export HOSTD_SOCKET=$work/hostd.sock HOSTD_STATE_DIR=$work/state # the first daemon again
eni_db=$(hostd instance describe "$db" | field NetworkInterfaceId)
show hostd flow-log create --resource "$eni_db" --traffic-type REJECT --interval 2s --destination db-rejects.log
db_log=$work/state/flow-logs/db-rejects.log
wait "$db_serve" || true # the port is free again
hostd instance exec "$db" -- hostd probe serve --port 5432 --seconds 60 >/dev/null 2>&1 &
sleep 0.3
command -v nmap >/dev/null || { echo "make demo needs nmap (apt-get install nmap): the scan runs it inside an instance" >&4; exit 1; }
show exec_in "$a" nmap -Pn -sT -T5 --max-retries 0 -p 1-200 "$ip_db"
echo "  The control: as many connections (200) from web, to the one port its group may use:"
show exec_in "$web" hostd probe connrate --addr "$ip_db:5432" --count 200 --seconds 20
sleep 3 # the records are taken every second, the flow log written every 2 s
show hostd finding list --type Recon:EC2/Portscan
scans=$(grep -c '"Type": "Recon:EC2/Portscan"' "$work/last" || true)
scanner=$(field InstanceId <"$work/last")
web_findings=$(hostd finding list | grep -c "\"InstanceId\": \"$web\"" || true)
grep -m1 "msg=finding" "$work/daemon.log" | cut -c1-160 | sed 's/^/  log: /' || true
echo "  The db's flow log (version 2: account, interface, source, destination, ports, protocol, packets, bytes, start, end, action, status):"
show grep -m 4 REJECT "$db_log"
rejects=$(grep -c "^2 [0-9]* $eni_db $ip_a $ip_db .* REJECT OK$" "$db_log" || true)
score "port scans" "nmap 200 ports of the db" "$(held '[ "$scans" = 1 ] && [ "$scanner" = "$a" ] && [ "$web_findings" = 0 ]')" \
  "$(when '[ "$scans" = 1 ]' "1 finding, names A" "NOT FOUND")" "$(when '[ "$web_findings" = 0 ]' "one port: none" "-")"
score "flow logs" "the victim's log of the scan" "$(held '[ "$rejects" -gt 0 ]')" "$rejects REJECT lines" "-"

say "Terminating every instance"
show hostd -o table instance terminate "$a" "$a2" "$a3" "$b" "$big" "$web" "$db" "$opt"

# The scorecard, on fd 3 (stdout, in --quick too).
{
  total=${#rows[@]}
  failed=0
  printf '\n%sScorecard: each attack, run from inside an instance, and what the demo observed%s\n\n' "$B" "$R"
  # Columns of 4, 16, 34, 20 and 18 characters, two apart: 100 in all; longer cells end in "..".
  fit() { if [ ${#1} -gt "$2" ]; then printf '%s..' "${1:0:$2-2}"; else printf '%s' "$1"; fi; }
  line() { printf '%-4s  %-16s  %-34s  %-20s  %s\n' "$1" "$(fit "$2" 16)" "$(fit "$3" 34)" "$(fit "$4" 20)" "$(fit "$5" 18)"; }
  line "" PROTECTION ATTACK "PROTECTION ON" "OFF"
  for r in "${rows[@]}"; do
    IFS='|' read -r what attack verdict on off <<<"$r"
    [ "$verdict" = ok ] || failed=$((failed + 1))
    line "$verdict" "$what" "$attack" "$on" "$off"
  done
  echo
  echo "$((total - failed)) of $total protections held. OFF is the same attack without the protection,"
  echo "where the demo shows it: on the host itself, with a larger limit, on a plain Linux bridge, with"
  echo "the port opened to the VPC, under the default ACL, or with --scrub off; \"-\" where it does not."
} >&3
scored=true
[ "$failed" = 0 ] || exit 1
