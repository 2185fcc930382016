#!/bin/sh
# Rebuilds the out-of-tree test modules from hello_oot.c. Needs Debian's
# linux-headers-$KVER, linux-headers-$KVER-common and linux-kbuild debs
# extracted under $ROOT (dpkg-deb -x), gcc-12, openssl.
set -eu
KVER=${KVER:-6.1.0-57-amd64}
ROOT=${ROOT:?dpkg-deb -x the header and kbuild debs into this directory}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
hdr=$ROOT/usr/src/linux-headers-$KVER
# The Debian Makefile includes the -common tree by absolute path.
sed -i "s#include /usr/src/#include $ROOT/usr/src/#" "$hdr/Makefile"
cp "$here/hello_oot.c" "$work/" && echo 'obj-m := hello_oot.o' > "$work/Kbuild"
make -s -C "$hdr" M="$work" modules
strip --strip-debug -o "$here/hello_oot-unsigned.ko" "$work/hello_oot.ko"
gzip -9 -n -c "$here/hello_oot-unsigned.ko" > "$here/hello_oot-unsigned.ko.gz"
zstd -q -19 -c "$here/hello_oot-unsigned.ko" > "$here/hello_oot-unsigned.ko.zst"
xz -z -c --check=crc32 --lzma2=dict=1MiB "$here/hello_oot-unsigned.ko" > "$here/hello_oot-unsigned.ko.xz"
openssl req -new -nodes -utf8 -sha256 -days 36500 -batch -x509 -newkey rsa:2048 \
  -subj "/O=auditlkm test/CN=auditlkm test signing key" -set_serial 0x1234abcd \
  -outform PEM -out "$work/key.pem" -keyout "$work/key.pem" 2>/dev/null
signfile=$(ls "$ROOT"/usr/lib/linux-kbuild-*/scripts/sign-file)
cp "$here/hello_oot-unsigned.ko" "$here/hello_oot-signed-sha512.ko"
"$signfile" sha512 "$work/key.pem" "$work/key.pem" "$here/hello_oot-signed-sha512.ko"
cp "$here/hello_oot-unsigned.ko" "$here/hello_oot-signed-keyid.ko"
"$signfile" -k sha256 "$work/key.pem" "$work/key.pem" "$here/hello_oot-signed-keyid.ko"
