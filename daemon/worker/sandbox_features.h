/* sandbox_features.h — farmd's start-up report of what the kernel offers the
 * sandbox (sandbox_features_probe), one log line per feature. */
#pragma once

/* Probes and logs; a missing required feature is logged as an error (the
 * workers' runs would fail). Never fails farmd itself. */
void sandbox_features_log(void);
