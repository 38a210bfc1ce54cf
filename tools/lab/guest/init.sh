#!/bin/busybox sh
# /init of efikdump's lab initramfs: the 1st kernel (normal boot) and the capture kernel (the
# same kernel, started by the loader with elfcorehdr=) share it. Every step prints one line
# "efikdump-init: <event> key=value ..." on the console; apps/cli/src/lab parses them.
/bin/busybox mkdir -p /proc /sys /dev /run /tmp
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
export PATH=/bin:/sbin

say() { echo "efikdump-init: $*"; }
arg() { for w in $(cat /proc/cmdline); do case "$w" in "$1="*) echo "${w#*=}";; esac; done; }
uptime_s() { cut -d' ' -f1 /proc/uptime; }

mode=normal
[ -e /proc/vmcore ] && mode=capture
say "start mode=$mode uptime=$(uptime_s)"

# efi-warm-reserved-memory: the loader reserved a zone (efikdump.zone=); ramoops writes the panic's
# dmesg into it (the crash marker). pstore takes one backend only, so efi-pstore stays out then.
zone=$(arg efikdump.zone)
for m in $(cat /lib/modules/order); do
  case "$m" in
    ramoops.ko) continue ;;
    efi-pstore.ko) [ -n "$zone" ] && continue ;;
  esac
  insmod "/lib/modules/$m" 2>/dev/null || say "error step=insmod module=$m"
done
if [ -n "$zone" ] && [ "$mode" = normal ]; then
  insmod /lib/modules/ramoops.ko mem_address=$(printf '0x%x' $((zone + 0x10000))) mem_size=0x100000 \
    record_size=0x20000 console_size=0 ftrace_size=0 pmsg_size=0 ecc=0 mem_type=1 \
    || say "error step=insmod module=ramoops.ko"
fi
mount -t efivarfs efivarfs /sys/firmware/efi/efivars || say "error step=mount-efivarfs"
n=0
while [ ! -b /dev/vdb ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
[ -b /dev/vdb ] || say "error step=data-disk reason=no-/dev/vdb"

if [ "$mode" = normal ]; then
  efikdump-guest arm $zone || say "error step=arm"
  mib=$(arg efikdump.pattern)
  if [ -n "$mib" ] && [ "$mib" != 0 ]; then
    efikdump-guest pattern "$mib" "$(arg efikdump.seed)" /dev/vdb &
    n=0
    while [ ! -e /run/pattern.done ] && [ $n -lt 1200 ]; do sleep 0.1; n=$((n + 1)); done
  fi
  case "$(arg efikdump.action)" in
    crash)
      say "panic uptime=$(uptime_s)"
      echo 1 > /proc/sys/kernel/sysrq
      echo c > /proc/sysrq-trigger
      ;;
    reboot)
      say "reboot uptime=$(uptime_s)"
      sync
      reboot -f
      ;;
  esac
  say "idle"
  exec sh
fi

# Capture: the dump goes to the data disk at 16 MiB in makedumpfile's flattened format (-F);
# the host rebuilds the file with makedumpfile -R.
level=$(arg efikdump.dumplevel)
format=$(arg efikdump.format)
case "$format" in
  elf) opts="-E" ;;
  kdump-zlib) opts="-c" ;;
  kdump-lzo) opts="-l" ;;
  *) opts="" ;;
esac
say "dump-start format=$format level=${level:-0} vmcore-bytes=$(stat -c %s /proc/vmcore) uptime=$(uptime_s)"
{ makedumpfile -F $opts -d "${level:-0}" /proc/vmcore 2>/tmp/makedumpfile.log; echo $? > /tmp/makedumpfile.rc; } \
  | dd of=/dev/vdb bs=1M seek=16 conv=fsync 2>/tmp/dd.log
rc=$(cat /tmp/makedumpfile.rc)
grep -v '^$' /tmp/makedumpfile.log | tail -n 5 | while read -r l; do say "makedumpfile-log $l"; done
say "dump-written status=$rc uptime=$(uptime_s)"
cleared=0
for v in /sys/firmware/efi/efivars/dump-type0-*; do
  [ -e "$v" ] || continue
  chattr -i "$v" 2>/dev/null
  rm -f "$v" && cleared=$((cleared + 1))
done
h=/sys/firmware/efi/efivars/EfikdumpHandoff-5b4ee3e4-6f1f-4c5d-9a3b-0e1d6b7a2144
[ -e $h ] && chattr -i $h 2>/dev/null
rm -f $h
say "records-cleared count=$cleared"
sync
say "poweroff uptime=$(uptime_s)"
poweroff -f
