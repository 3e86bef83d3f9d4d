#!/bin/bash
# A private Son of Grid Engine cell (Debian's gridengine-master/-exec/-client) for the
# pilot tests: cell CELL under the package's SGE_ROOT, spool and state under DIR,
# loopback with the ports given.
#   sge.sh up DIR CELL QMASTER_PORT EXECD_PORT SLOTS     sge.sh down DIR CELL
set -euo pipefail
cmd=$1 B=$2 CELL=$3
export SGE_ROOT=/var/lib/gridengine SGE_CELL=$CELL
. "$(dirname "$0")/stop_pid.sh"
if [ "$cmd" = down ]; then
  for f in "$B"/execd/*/execd.pid; do stop_pid "$f" 100; done
  stop_pid "$B/qmaster/qmaster.pid" 100
  rm -rf "${SGE_ROOT:?}/$CELL"
  exit 0
fi
export SGE_QMASTER_PORT=$4 SGE_EXECD_PORT=$5
SLOTS=$6
HOST=$(hostname)
C=$SGE_ROOT/$CELL/common
rm -rf "${SGE_ROOT:?}/$CELL"
mkdir -p "$C" "$B"/{qmaster,spooldb,execd,tmp}
sed -e "s#^spooling_params.*#spooling_params         $B/spooldb#" \
    -e "s#^qmaster_spool_dir.*#qmaster_spool_dir       $B/qmaster#" \
    /usr/share/gridengine/default-bootstrap > "$C/bootstrap"
echo "$HOST" > "$C/act_qmaster"
[ "$HOST" != localhost ] && echo "$HOST localhost" > "$C/host_aliases"
echo "$CELL" > "$C/cluster_name"
sed -e "s#^execd_spool_dir.*#execd_spool_dir        $B/execd#" \
    -e "s#^min_uid.*#min_uid                0#" -e "s#^min_gid.*#min_gid                0#" \
    -e "s#^gid_range.*#gid_range              61000-61999#" \
    -e "s#^load_report_time.*#load_report_time       00:00:05#" \
    /usr/share/gridengine/default-configuration > "$B/global.conf"
chown -R sgeadmin:sgeadmin "$SGE_ROOT/$CELL" "$B"
chmod 755 "$B"
su -s /bin/sh sgeadmin -c "
  export SGE_ROOT=$SGE_ROOT SGE_CELL=$CELL
  /usr/lib/gridengine/spoolinit berkeleydb libspoolb $B/spooldb init &&
  /usr/lib/gridengine/spooldefaults configuration $B/global.conf &&
  /usr/lib/gridengine/spooldefaults complexes /usr/share/gridengine/util/resources/centry &&
  /usr/lib/gridengine/spooldefaults usersets /usr/share/gridengine/util/resources/usersets &&
  /usr/lib/gridengine/spooldefaults managers sgeadmin
" >/dev/null
mkdir -p /run/gridengine && chown sgeadmin:sgeadmin /run/gridengine
export SGE_MASTER_PIDFILE=$B/qmaster/qmaster.pid
/usr/sbin/sge_qmaster
for _ in $(seq 100); do qstat -g c >/dev/null 2>&1 && break; sleep 0.2; done
qconf -am root >/dev/null 2>&1 || true
qconf -ah "$HOST" >/dev/null 2>&1 || true
qconf -as "$HOST" >/dev/null 2>&1 || true
# event-driven scheduling: a pass 1 s after a submit or a job's end
sed -e 's/^flush_submit_sec.*/flush_submit_sec                 1/' \
    -e 's/^flush_finish_sec.*/flush_finish_sec                 1/' \
    -e 's/^schedule_interval.*/schedule_interval                0:0:2/' \
    -e 's/^job_load_adjustments.*/job_load_adjustments             none/' \
    -e 's/^load_adjustment_decay_time.*/load_adjustment_decay_time       0:0:0/' \
    /usr/share/gridengine/util/install_modules/inst_schedd_normal.conf > "$B/sched.conf"
qconf -Msconf "$B/sched.conf" >/dev/null
printf '#!/bin/sh\nsed -i -e "s/^hostname .*/hostname %s/" "$1"\n' "$HOST" > "$B/edit-host.sh"
chmod +x "$B/edit-host.sh"
EDITOR=$B/edit-host.sh qconf -ae >/dev/null
cat > "$B/edit-queue.sh" <<ED
#!/bin/sh
sed -i -e 's/^qname .*/qname batch/' -e 's/^hostlist .*/hostlist $HOST/' -e 's/^slots .*/slots $SLOTS/' \\
  -e 's/^load_thresholds .*/load_thresholds NONE/' -e 's#^tmpdir .*#tmpdir $B/tmp#' -e 's/^pe_list .*/pe_list NONE/' "\$1"
ED
chmod +x "$B/edit-queue.sh"
EDITOR=$B/edit-queue.sh qconf -aq >/dev/null
/usr/sbin/sge_execd
for _ in $(seq 150); do
  qstat -f -q batch 2>/dev/null | grep -q "batch@.* lx-amd64 *$" && exit 0
  sleep 0.2
done
echo "sge: the execution host did not come up" >&2
qstat -f >&2 || true
exit 1
