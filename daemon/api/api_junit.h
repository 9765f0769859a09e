/* junit.h — GET /v1/submissions/{id}/junit: the submission as JUnit XML
 * (rendering in common/junit.h). 200 application/xml for any state (a
 * submission still running renders what is known, its pending tests as
 * <skipped/>), 404 for an unknown id. Scope: read, like GET of the JSON. */
#pragma once

#include "api.h"

enum MHD_Result junit_handler(api_call *c);
