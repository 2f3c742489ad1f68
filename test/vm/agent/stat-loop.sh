#!/bin/sh
# Once a second: the agent's open fds and its CPU time (utime+stime in USER_HZ ticks, 100 a
# second on x86) on the console; the same ticks for the reference qemu-ga when it runs.
# /run/qga-stat.pause (made by the test through the agent) silences it during timing runs: its
# awk/ls/cut processes cost the TCG guest more than what is being timed.
while [ ! -e /tmp/poweroff ]; do
    if [ -e /run/qga-stat.pause ]; then sleep 1; continue; fi
    pid=$(cat /run/qga/agent.pid 2>/dev/null)
    if [ -n "$pid" ] && [ -r "/proc/$pid/stat" ]; then
        fds=$(ls "/proc/$pid/fd" 2>/dev/null | wc -l)
        # comm is "(node)": no spaces, so utime and stime are fields 14 and 15
        ticks=$(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null)
        ref=$(cat /run/qemu-ga/pid 2>/dev/null)
        ref_ticks=-1
        [ -n "$ref" ] && [ -r "/proc/$ref/stat" ] && ref_ticks=$(awk '{ print $14 + $15 }' "/proc/$ref/stat" 2>/dev/null)
        echo "qga-stat: pid=$pid fds=$fds ticks=$ticks hz=100 uptime=$(cut -d' ' -f1 /proc/uptime) qemu-ga-ticks=$ref_ticks"
    fi
    sleep 1
done
