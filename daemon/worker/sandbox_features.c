/* sandbox_features.c — logs at start what this machine offers the sandbox,
 * the same list `farm-sandbox --check` prints (docs/security.md). */
#include "sandbox_features.h"

#include "../../common/log.h"
#include "sandbox.h"

void sandbox_features_log(void)
{
    struct sandbox_features fs;
    char err[256];

    if (sandbox_features_probe(&fs, err, sizeof(err)) < 0) {
        log_warn("sandbox-features-probe-failed error=\"%s\"", err);
        return;
    }
    for (size_t i = 0; i < fs.n; i++) {
        const struct sandbox_feature *f = &fs.f[i];

        if (f->need == SANDBOX_NEED_REQUIRED && !f->present)
            log_error("sandbox-feature name=%s present=no need=required detail=\"%s\" "
                      "without=\"%s\"",
                      f->name, f->detail, f->if_missing);
        else
            log_info("sandbox-feature name=%s present=%s need=%s detail=\"%s\"", f->name,
                     f->present ? "yes" : "no", sandbox_need_name(f->need), f->detail);
    }
    log_info("sandbox-features missing_required=%zu accounting_expected=%s",
             sandbox_features_missing(&fs), sandbox_accounting_name(fs.accounting));
}
