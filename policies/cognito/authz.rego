# METADATA
# title: The default decision of caddy-cognito
# description: |
#   The authorizer queries data.cognito.authz.decision unless told otherwise. Without a `policy`, this
#   module provides it from the built-in policy. A policy of your own that keeps the default decision
#   declares `package cognito.authz` itself (and then this module is not loaded).
package cognito.authz

import data.cognito.builtin

decision := builtin.decision
