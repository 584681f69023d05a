# One container's runc calls, in the order containerd's stock runc v2 shim makes them for
# `ctr run --rm` when its runc is dynamig-runc (Docker, podman, CRI-O, BinaryName): runc create,
# runc start, runc delete, runc delete --force. $1: plain (the stand-ins alone), none (through dynamig, no request), req (through
# dynamig, the bundle asks for a slice). Env (bench/runtime-overhead.sh): W, BIN.
set -e
mode=$1
id=c$$-$RANDOM
case $mode in
plain) runc=$W/fake-runc cfg=plain ;;
none) runc=$BIN/dynamig-runc cfg=plain ;;
req) runc=$BIN/dynamig-runc cfg=req ;;
*) echo "cycle.sh: plain, none or req" >&2; exit 2 ;;
esac
export FAKE_BUNDLE=$W/$mode CYCLE_PID=$$
b=$FAKE_BUNDLE
cp "$W/$cfg.json" "$b/config.json"
g=(--root "$W/runc-root" --log "$b/log.json" --log-format json)
"$runc" "${g[@]}" create --bundle "$b" --pid-file "$b/init.pid" "$id"
"$runc" "${g[@]}" start "$id"
"$runc" "${g[@]}" delete "$id"
"$runc" "${g[@]}" delete --force "$id"
