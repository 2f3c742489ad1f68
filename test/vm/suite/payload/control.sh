#!/bin/sh
# Command reader on the second serial port (QEMU `-serial unix:…`, the guest's /dev/ttyS1). The
# host writes "<id> <shell command>" lines; each runs as `sh -c` and is answered with one line
#   @@<id> <exit status> <output (stdout+stderr), base64>
# It lets the suite act inside the guest where the agent cannot: guest-exec is disabled while
# filesystems are frozen, and the agent cannot be asked to `kill -9` itself. Commands run one at
# a time; anything that might block (a write to a frozen filesystem) must be put in the background.
tty=/dev/ttyS1
out=/run/suite/control.out
if ! stty -F $tty raw -echo 2>/dev/null; then
    echo "qga-suite: no usable $tty, no command reader"
    exit 0
fi
echo "qga-suite: control ready on $tty"
while :; do
    while IFS= read -r line; do
        id=${line%% *}
        cmd=${line#* }
        sh -c "$cmd" > $out 2>&1 < /dev/null
        status=$?
        printf '@@%s %s %s\n' "$id" "$status" "$(base64 -w 0 $out)"
    done < $tty > $tty
    sleep 0.2
done
