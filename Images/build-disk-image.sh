#!/bin/sh
# Builds the default FAT32 volume (what `--disk default` names) from Images/disk
# plus generated files of known bytes. Called by the GuestImageBuilder plugin;
# runnable by hand:  Images/build-disk-image.sh IMAGES_DIR OUTPUT.img
# The generated files (the tests compute the same bytes):
#   pattern/lines-4mib.txt   131072 lines "%020d mmlab-line\n" (32 bytes each, line i at byte 32*i)
#   pattern/odd-length.bin   its first 100003 bytes
set -eu
images=$1 output=$2
work="$output.work"
rm -rf "$work" "$output.tmp"
mkdir -p "$work/content"
cp -R "$images/disk/." "$work/content/"
mkdir -p "$work/content/pattern"
awk 'BEGIN { for (i = 0; i < 131072; i++) printf "%020d mmlab-line\n", i }' > "$work/content/pattern/lines-4mib.txt"
head -c 100003 "$work/content/pattern/lines-4mib.txt" > "$work/content/pattern/odd-length.bin"
mkfs.fat -F 32 --invariant -n MMLAB -C "$output.tmp" 65536 >/dev/null
# A contiguous page file first, into the empty volume (the paging work uses it).
truncate -s 8M "$work/pagefile.sys"
MTOOLS_SKIP_CHECK=1 mcopy -i "$output.tmp" "$work/pagefile.sys" ::/pagefile.sys
MTOOLS_SKIP_CHECK=1 mcopy -s -p -i "$output.tmp" "$work/content/"* ::/
fsck.fat -n "$output.tmp" >/dev/null
rm -rf "$work"
mv "$output.tmp" "$output"
