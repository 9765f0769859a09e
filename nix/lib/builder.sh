# Build one package of the offline set: copy an imported Debian tree into $out
# and relink it into the store. Runs under busybox-static sh (its applets come
# before PATH, which is empty in the sandbox).
#
# Why patchelf: Debian binaries look for /lib64/ld-linux-x86-64.so.2 and
# /usr/lib; a closure-only root has neither. Every ELF gets the store glibc
# as interpreter and a RUNPATH over its own and its dependencies' lib dirs;
# because $out then contains those store paths, Nix records the references.
#
# Inputs (env, written by nix/regen into the manifest): src, glibcSrc,
# patchelfSrc (unpatched imports that run patchelf), glibc (store glibc; empty
# when building glibc), deps (store paths of the transitive dependencies),
# elfs ("<flags> <path> [<original RUNPATH>]" lines; i = has an interpreter,
# n = has DT_NEEDED), ldscripts, symlinks, shebangs, aliases ("name=target"
# words), applets (1: link busybox applets), script (extra step, or empty).
set -eu

pe() {
	"$glibcSrc/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" \
		--library-path "$glibcSrc/usr/lib/x86_64-linux-gnu:$patchelfSrc/usr/lib/x86_64-linux-gnu" \
		"$patchelfSrc/usr/bin/patchelf" "$@"
}

mkdir -p "$out"
cp -RP "$src/usr/." "$out/"
if [ -d "$src/etc" ]; then
	cp -RP "$src/etc" "$out/etc"
fi
# A spec's "roots" outside /usr (GHC's package database in /var/lib/ghc).
if [ -d "$src/var" ]; then
	cp -RP "$src/var" "$out/var"
fi
chmod -R u+w "$out"

libc=${glibc:-$out}
interp=$libc/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2

rpath=
for d in "$out" $deps; do
	if [ -d "$d/lib/x86_64-linux-gnu" ]; then
		rpath=${rpath:+$rpath:}$d/lib/x86_64-linux-gnu
	fi
done
# A few Debian libraries live in /usr/lib itself (GraphicsMagick, which
# Octave needs): those trees' lib dirs come after the multiarch ones.
for d in "$out" $deps; do
	for so in "$d"/lib/*.so*; do
		if [ -f "$so" ]; then
			rpath=${rpath:+$rpath:}$d/lib
			break
		fi
	done
done

# Host path (Debian, merged /usr) -> the same file in $out or a dependency.
store_file() {
	rel=$1
	case $rel in
	/usr/*) rel=${rel#/usr} ;;
	esac
	for d in "$out" $deps; do
		if [ -e "$d$rel" ] || [ -L "$d$rel" ]; then
			echo "$d$rel"
			return 0
		fi
	done
	return 1
}

# Symlinks that are absolute or leave the tree ("<link> <host target>" from
# nix/regen, e.g. libfoo.so -> /lib/x86_64-linux-gnu/libfoo.so.1) would point
# outside the closure: point them at the same file in $out or a dependency.
echo "$symlinks" | while read -r link target; do
	[ -n "$link" ] || continue
	if new=$(store_file "$target"); then
		ln -sfn "$new" "$out${link#/usr}"
	fi
done

echo "$elfs" | while read -r flags path orig; do
	[ -n "$path" ] || continue
	f=$out${path#/usr}
	# Keep the original RUNPATH ($ORIGIN/..., private lib dirs mapped into
	# the store) ahead of the store lib dirs; drop the host's default dirs.
	rp=
	for e in $(echo "$orig" | tr ':' ' '); do
		case $e in
		/usr/lib/x86_64-linux-gnu | /lib/x86_64-linux-gnu | /usr/lib | /lib) continue ;;
		/*) e=$(store_file "$e") || continue ;;
		esac
		rp=${rp:+$rp:}$e
	done
	rp=${rp:+$rp:}$rpath
	set --
	case $flags in *i*) set -- "$@" --set-interpreter "$interp" ;; esac
	case $flags in *n*) set -- "$@" --set-rpath "$rp" ;; esac
	pe "$@" "$f"
done

# Scripts' host interpreters ("<script> <interpreter>" lines from nix/regen):
# /bin/sh resolves to the bash package's bin/sh, others to this tree.
echo "$shebangs" | while read -r path interp; do
	[ -n "$path" ] || continue
	f=$out${path#/usr}
	new=$(store_file "$interp") || { echo "no $interp for $path" >&2; exit 1; }
	sed -i -e "1s|^#! *$interp|#!$new|" "$f"
done

# GNU ld scripts (libc.so, libm.so) name absolute host paths.
for path in $ldscripts; do
	f=$out${path#/usr}
	map=
	for word in $(grep -o '/[A-Za-z0-9_.+-][A-Za-z0-9_./+-]*' "$f" | sort -u); do
		if s=$(store_file "$word"); then map="$map $word=$s"; fi
	done
	awk -v map="$map" 'BEGIN { n = split(map, kv, " ");
		for (i = 1; i <= n; i++) { j = index(kv[i], "="); m[substr(kv[i], 1, j - 1)] = substr(kv[i], j + 1) } }
		{ for (i = 1; i <= NF; i++) if ($i in m) $i = m[$i]; print }' "$f" >"$f.tmp"
	mv "$f.tmp" "$f"
done

if [ -n "$applets" ]; then
	for a in $("$out/bin/busybox" --list); do
		[ -e "$out/bin/$a" ] || ln -s busybox "$out/bin/$a"
	done
fi

[ -z "$aliases" ] || mkdir -p "$out/bin"
for al in $aliases; do
	ln -sfn "${al#*=}" "$out/bin/${al%%=*}"
done

# Wrappers ("<bin name> <real program> [KEY=VALUE...] [-- ARG...]" lines from the spec's
# "wrap"; @out@ in a value is this package's store path): for programs that
# find their library by a compiled-in /usr path but honour an environment
# variable (RUBYLIB, SBCL_HOME, ERL_ROOTDIR...) or an option (fpc's -Fu). A real program that is
# bin/<name> itself is moved to libexec/ first (name the target libexec/<name>).
# A target "<interpreter>:<path>" runs <path> with the dependency's
# bin/<interpreter> (tsc: node:share/nodejs/typescript/bin/tsc; "python3:"
# runs the interpreter itself, numpy's python3); "ld.so:<path>"
# runs an ELF file the spec left "unpatched" with the store's ld.so.
# Scripts with a host prefix compiled in ("<glob under $out> <host prefix>"
# lines from the spec's "relocate", e.g. Erlang's ROOTDIR=/usr/lib/erlang):
# the prefix becomes the same directory in $out.
echo "$relocate" | while read -r rglob rprefix; do
	[ -n "$rglob" ] || continue
	for f in $out/$rglob; do
		[ -f "$f" ] || { echo "builder: relocate: no $rglob" >&2; exit 1; }
		sed -i "s|$rprefix|$out${rprefix#/usr}|g" "$f"
	done
done

if [ -n "$wrap" ]; then
	wbash=
	for d in $deps; do
		[ -x "$d/bin/bash-static" ] && wbash=$d/bin/bash-static
	done
	[ -n "$wbash" ] || { echo "builder: wrap needs the bash package among deps" >&2; exit 1; }
	mkdir -p "$out/bin"
	echo "$wrap" | while read -r wname wtarget wenv; do
		[ -n "$wname" ] || continue
		winterp=
		case $wtarget in
		ld.so:*)
			winterp="$interp --library-path $rpath "
			wtarget=${wtarget#*:}
			;;
		*:*)
			for d in $deps; do
				[ -x "$d/bin/${wtarget%%:*}" ] && winterp="$d/bin/${wtarget%%:*} "
			done
			[ -n "$winterp" ] || { echo "builder: wrap $wname: no ${wtarget%%:*} among deps" >&2; exit 1; }
			wtarget=${wtarget#*:}
			;;
		esac
		case $wtarget in
		libexec/*)
			mkdir -p "$out/libexec"
			[ -e "$out/$wtarget" ] || mv "$out/bin/$wname" "$out/$wtarget"
			;;
		esac
		[ -e "$out/$wtarget" ] || { echo "builder: wrap $wname: no $wtarget" >&2; exit 1; }
		rm -f "$out/bin/$wname"
		{
			echo "#!$wbash"
			echo "# nixfarm: $wname wrapper (spec.json \"wrap\"; see nix/lib/builder.sh)"
			wargs=
			for kv in $wenv; do
				if [ -n "$wargs" ] || [ "$kv" = -- ]; then
					[ "$kv" = -- ] || wargs="$wargs $kv"
					wargs=${wargs:- }
					continue
				fi
				echo "export ${kv%%=*}=\"$(echo "${kv#*=}" | sed "s|@out@|$out|g")\""
			done
			wfile=$out/$wtarget
			[ -n "$wtarget" ] || wfile=
			echo "exec $winterp$wfile$(echo "$wargs" | sed "s|@out@|$out|g") \"\$@\""
		} >"$out/bin/$wname"
		chmod 555 "$out/bin/$wname"
	done
fi

if [ -n "$script" ]; then
	. "$script"
fi
