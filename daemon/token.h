/* token.h — `farmd token create --name N --scopes a,b | list | revoke ID`:
 * manages the API's bearer tokens (api/auth.h) from the command line. */
#pragma once

#include "../common/config.h"

/* argv[0] is "token". Prints to stdout, errors to stderr; returns the process
 * exit status (0 ok, 1 failure, 2 usage). */
int token_command(const config *cfg, int argc, char **argv);
