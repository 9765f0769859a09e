# Extra build step of the ghc package (sourced by lib/builder.sh, busybox sh).
# Debian's GHC keeps its package database in /var/lib/ghc (imported through
# the spec's "roots") with /usr/lib/ghc paths in every entry, and its settings
# name the host's x86_64-linux-gnu-gcc, ld.gold, ar and ranlib. Here the
# database moves into lib/ghc with store paths and is recached, and the
# settings name the gcc package's tools (ld.bfd: the gcc package has no gold).
# Programs link libgmp and libffi; the C compiler's link flags give them a
# RUNPATH to those libraries' store paths.
gcc= coreutils= rt=
for d in $deps; do
	[ -x "$d/bin/gcc" ] && [ -x "$d/bin/ld" ] && gcc=$d
	[ -x "$d/bin/touch" ] && coreutils=$d
	for so in libgmp.so.10 libffi.so.8; do
		[ -e "$d/lib/x86_64-linux-gnu/$so" ] && rt="$rt -Wl,-rpath,$d/lib/x86_64-linux-gnu"
	done
done
[ -n "$gcc" ] && [ -n "$coreutils" ] || { echo "ghc.sh: needs gcc and coreutils among deps" >&2; exit 1; }
top=$out/lib/ghc
db=$top/package.conf.d
rm -rf "$db"
mkdir -p "$db"
for f in "$out"/var/lib/ghc/package.conf.d/*.conf; do
	sed -e "s|/usr/lib/ghc/|$top/|g" -e "s|/usr/lib/ghc\$|$top|" -e '/ghc-doc/d' "$f" >"$db/${f##*/}"
done
rm -rf "$out/var"
"$top/bin/ghc-pkg" --global-package-db "$db" recache
sed -i \
	-e "s|\"x86_64-linux-gnu-gcc\"|\"$gcc/bin/gcc\"|g" \
	-e "s|\"x86_64-linux-gnu-ld.gold\"|\"$gcc/bin/ld\"|g" \
	-e "s|\"x86_64-linux-gnu-ar\"|\"$gcc/bin/ar\"|g" \
	-e "s|\"x86_64-linux-gnu-ranlib\"|\"$gcc/bin/ranlib\"|g" \
	-e "s|\"touch\"|\"$coreutils/bin/touch\"|" \
	-e "s|(\"C compiler link flags\", \"-fuse-ld=gold\")|(\"C compiler link flags\", \"-L$out/lib/x86_64-linux-gnu$rt\")|" \
	"$top/settings"
grep -q "$gcc/bin/ld" "$top/settings" || { echo "ghc.sh: settings not rewritten" >&2; exit 1; }
