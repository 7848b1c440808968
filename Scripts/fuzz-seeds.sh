#!/bin/sh
# Seeds of `make fuzz`: a core of every shipped scenario at its first checkpoint (8 MiB
# guests, so a mutated core is cheap to write), the guest image and the bundled errata.
set -eu
mmlab=${1:?usage: fuzz-seeds.sh MMLAB FOLDER}
folder=${2:?usage: fuzz-seeds.sh MMLAB FOLDER}
mkdir -p "$folder"
for script in Images/scripts/*.json; do
  name=$(basename "$script" .json)
  checkpoint=$(grep -o '"Checkpoint", "name": "[^"]*"' "$script" | head -1 | sed 's/.*"name": "\([^"]*\)"/\1/')
  [ -f "$folder/$name.core" ] || "$mmlab" dump-core --script "$script" --checkpoint "$checkpoint" --memory 8 \
    --out "$folder/$name.core" 2>/dev/null
done
[ -f "$folder/booted.core" ] || "$mmlab" dump-core --memory 8 --out "$folder/booted.core" 2>/dev/null
image=$(find .build -path '*release*' -name mmlab-guest.elf | head -1)
[ -n "$image" ] || image=$(find .build -name mmlab-guest.elf | head -1)
cp "$image" "$folder/guest.elf"
cp Sources/Conformance/Errata/errata.json "$folder/errata.json"
[ -f "$folder/volume.img" ] || "$mmlab" image build --from Images/disk --out "$folder/volume.img" --size 34 2>/dev/null
ls -l "$folder"
