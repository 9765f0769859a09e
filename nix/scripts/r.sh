# Extra build step of the r package (sourced by lib/builder.sh, busybox sh).
# R's start script runs sed as /bin/sed, which a run root does not have: take
# the set's sed from PATH (the r profile's set has coreutils).
for f in "$out/lib/R/bin/R" "$out/bin/R"; do
	[ -f "$f" ] && sed -i 's|^SED=/bin/sed$|SED=sed|' "$f"
done
# Sys.which runs /usr/bin/which (compiled into base), which a run root does
# not have, and utils fails to load when it cannot: the site profile, sourced
# before the default packages are attached, gives base a Sys.which that
# looks the names up on PATH itself.
profile=$out/etc/R/Rprofile.site
[ -f "$profile" ] || { echo "r.sh: no $profile" >&2; exit 1; }
cat >>"$profile" <<'RPROF'

## nixfarm (nix/scripts/r.sh): Sys.which without /usr/bin/which.
local({
    which <- function(names) {
        dirs <- strsplit(Sys.getenv("PATH"), ":", fixed = TRUE)[[1L]]
        res <- vapply(names, function(n) {
            if (is.na(n)) return(NA_character_)
            if (grepl("/", n, fixed = TRUE))
                return(if (file.access(n, 1L) == 0L) n else "")
            for (d in dirs) {
                p <- file.path(d, n)
                if (file.access(p, 1L) == 0L && !dir.exists(p)) return(p)
            }
            ""
        }, "")
        names(res) <- names
        res
    }
    base <- baseenv()
    unlockBinding("Sys.which", base)
    assign("Sys.which", which, envir = base)
    lockBinding("Sys.which", base)
})
RPROF
