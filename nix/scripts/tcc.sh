# Extra build step of the tcc package (sourced by lib/builder.sh, busybox sh).
# Debian's tcc has /usr paths compiled in: its own lib dir, the include path,
# the crt directory and /lib64/ld-linux-x86-64.so.2. The bin/tcc wrapper
# passes the store equivalents: -B (libtcc1.a, tcc's headers), -isystem
# (glibc headers), -L/-rpath, LD_SO (tcc's switch for the ELF interpreter);
# and, because the crt directory cannot be changed at run time, it links
# executables with -nostdlib plus explicit crt1.o crti.o ... -lc libtcc1.a
# crtn.o, which is what tcc would add itself.
bash= libcdev=
for d in $deps; do
	[ -x "$d/bin/bash-static" ] && bash=$d/bin/bash-static
	[ -e "$d/include/stdio.h" ] && libcdev=$d
done
[ -n "$bash" ] && [ -n "$libcdev" ] || { echo "tcc.sh: bash or libc-dev missing" >&2; exit 1; }
multi=lib/x86_64-linux-gnu
tccdir=$out/$multi/tcc
crt=$libcdev/$multi

mkdir -p "$out/libexec"
mv "$out/bin/tcc" "$out/libexec/tcc"
cat >"$out/bin/tcc" <<WRAP
#!$bash
# nixfarm: tcc wrapper; see nix/scripts/tcc.sh
export LD_SO=$glibc/$multi/ld-linux-x86-64.so.2
pre=(-B$tccdir -isystem $libcdev/include/x86_64-linux-gnu -isystem $libcdev/include
	-L$libcdev/$multi -L$glibc/$multi -Wl,-rpath=$glibc/$multi)
case \${1-} in
-ar | -impdef) exec $out/libexec/tcc "\$@" ;; # must come first
esac
link=1 shared=0
for a in "\$@"; do
	case \$a in
	-c | -E | -M | -MM | -run | -r | -nostdlib | -v | -vv | -h | -hh | -ar | -impdef) link=0 ;;
	-shared) shared=1 ;;
	esac
done
if [ \$link = 0 ] || [ \$# = 0 ]; then
	exec $out/libexec/tcc "\${pre[@]}" "\$@"
fi
if [ \$shared = 1 ]; then
	exec $out/libexec/tcc "\${pre[@]}" -nostdlib $crt/crti.o "\$@" -lc $tccdir/libtcc1.a $crt/crtn.o
fi
exec $out/libexec/tcc "\${pre[@]}" -nostdlib $crt/crt1.o $crt/crti.o "\$@" -lc $tccdir/libtcc1.a $crt/crtn.o
WRAP
chmod 555 "$out/bin/tcc"
