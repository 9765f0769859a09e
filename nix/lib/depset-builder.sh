# Build a dependency set: bin/ links to the chosen packages' binaries and a
# `closure` file. Runs under busybox-static sh with an empty PATH.
# Inputs (env): links ("<store path> <bin>..." lines, later lines win),
# graphs (files written by exportReferencesGraph in the build directory).
set -eu
mkdir -p "$out/bin"
echo "$links" | while read -r pkg bins; do
	[ -n "$pkg" ] || continue
	for b in $bins; do
		if [ ! -e "$pkg/bin/$b" ]; then
			echo "depset: $pkg has no bin/$b" >&2
			exit 1
		fi
		ln -sfn "$pkg/bin/$b" "$out/bin/$b"
	done
done
# The reference graph format is: path, deriver, reference count, references.
# Every store path in it (other than derivers) is in the runtime closure.
{
	echo "$out"
	for g in $graphs; do
		grep '^/nix/store/' "$g" | grep -v '\.drv$' || true
	done
} | sort -u >"$out/closure"
