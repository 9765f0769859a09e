# Build a dependency set: bin/ links to the chosen packages' binaries, a
# `closure` file and an `env` file. Runs under busybox-static sh with an empty PATH.
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

# Host paths a run root gets from the set (the worker binds them read-only,
# daemon/worker_job.c), linked here when a package of the closure has them:
# share/zoneinfo, the time zone database that PHP and glibc look up under
# /usr/share/zoneinfo; lib/gprolog, where Debian's gplc looks for its objects
# and libraries (/usr/lib/gprolog is compiled in); share/nodejs/<module>, the
# JavaScript that Debian's libnode (nodejs 18) loads by absolute paths under
# /usr/share/nodejs (only the nodejs package of a Debian 18 machine has them).
for rel in share/zoneinfo lib/gprolog share/nodejs/acorn share/nodejs/acorn-walk \
	share/nodejs/cjs-module-lexer share/nodejs/undici; do
	while read -r p; do
		if [ "$p" != "$out" ] && [ -d "$p/$rel" ]; then
			mkdir -p "$out/${rel%/*}"
			ln -s "$p/$rel" "$out/$rel"
			break
		fi
	done <"$out/closure"
done

# Environment a process using this set needs, one KEY=VALUE per line: PATH,
# and LOCPATH when glibc is in the closure (its compiled-in /usr/lib/locale
# does not exist in a closure-only root; C.UTF-8 is in the store glibc).
{
	echo "PATH=$out/bin"
	while read -r p; do
		if [ -d "$p/lib/locale/C.utf8" ]; then
			echo "LOCPATH=$p/lib/locale"
			break
		fi
	done <"$out/closure"
} >"$out/env"
