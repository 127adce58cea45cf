#!/usr/bin/env bash
# smf against PyTorch eager on the same model and scenarios, in one command (see bench/pytorch/README.md):
#
#   bench/pytorch/run.sh                   # preset base, 3 alternating rounds → bench/pytorch/out/compare.json
#   bench/pytorch/run.sh --rounds 5        # any option of compare.py (--preset, --steps, --gen-tokens, …)
#   bench/pytorch/run.sh --torch-only      # only the PyTorch scenarios (bench.py), → bench/pytorch/out/torch.json
#   bench/pytorch/run.sh --check-import    # smf import + smf logits against hf_decoder.py (check_import.py; its
#                                          # options pass through: --case NAME, --keep DIR, --atol X)
#
# Installs Debian's python3-torch and libopenblas0-openmp with apt-get when they are missing (as root), prints which
# BLAS torch calls, builds smf if it is not built, then runs compare.py with 2 threads on both sides.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
py=/usr/bin/python3                 # Debian's python: python3-torch installs into its dist-packages
threads="${THREADS:-2}"

missing=()
"$py" -c 'import torch' >/dev/null 2>&1 || missing+=(python3-torch)
dpkg-query -W -f='${Status}' libopenblas0-openmp 2>/dev/null | grep -q 'install ok installed' || missing+=(libopenblas0-openmp)
if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        echo "missing Debian packages: ${missing[*]}; run as root or: sudo apt-get install -y ${missing[*]}" >&2
        exit 2
    fi
    echo "installing ${missing[*]} …" >&2
    apt-get update -qq || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2
fi

echo "== which BLAS torch uses"
"$py" - <<'EOF'
import os, re, torch
cfg = torch.__config__.show()
print(f"torch {torch.__version__}; " + ", ".join(re.findall(r"(BLAS_INFO=[^,]+|LAPACK_INFO=[^,]+|USE_OPENMP=\w+|USE_MKLDNN=\w+)", cfg)))
blas = "/usr/lib/x86_64-linux-gnu/libblas.so.3"
if os.path.exists(blas):
    print(f"{blas} -> {os.path.realpath(blas)}")
print(torch.__config__.parallel_info().split("Environment variables")[0].strip())
EOF
if command -v update-alternatives >/dev/null && update-alternatives --query libblas.so.3-x86_64-linux-gnu >/dev/null 2>&1; then
    update-alternatives --query libblas.so.3-x86_64-linux-gnu | grep -E '^(Value|Best):' || true
fi

smf="$repo/src/SparseMemory.Cli/bin/Release/net10.0/linux-x64/smf"
torch_only=0
check_import=0
args=()
for a in "$@"; do
    if [[ $a == --torch-only ]]; then torch_only=1
    elif [[ $a == --check-import ]]; then check_import=1
    else args+=("$a"); fi
done

export OMP_NUM_THREADS="$threads" OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
mkdir -p "$here/out"
if ((torch_only)); then
    exec "$py" "$here/bench.py" --threads "$threads" --out "$here/out/torch.json" "${args[@]}"
fi
if [[ ! -x $smf ]]; then
    echo "== building smf" >&2
    (cd "$repo" && dotnet build SparseMemory.sln -c Release -nodeReuse:false >&2)
fi
if ((check_import)); then
    echo "== smf import against the PyTorch reference (hf_decoder.py)"
    exec "$py" "$here/check_import.py" --smf "$smf" "${args[@]}"
fi
echo "== smf vs PyTorch"
exec "$py" "$here/compare.py" --smf "$smf" --threads "$threads" "${args[@]}"
