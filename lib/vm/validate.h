/* Payload normalisation and validation (reference V1–V12).
 *
 * vm_payload_normalize() coerces what operators send as strings
 * (`vmadm update <uuid> ram=512`) into the table's types; vm_validate()
 * then returns SmartOS's error object, and vm_validate_err() turns it into
 * the one-line message create/update print.  Unlike SmartOS, properties not
 * allowed for the brand are refused (named), never silently dropped. */
#ifndef VM_VALIDATE_H
#define VM_VALIDATE_H

#include <jansson.h>
#include "common/err.h"

/* action: "create", "receive" or "update". */
int vm_payload_normalize(json_t *payload, const char *action, vm_err *err);

/* NULL when valid; otherwise a new object {"bad_brand": b} or
 * {"bad_values": [...], "bad_properties": [...], "missing_properties": [...]}. */
json_t *vm_validate(const char *brand, const char *action, json_t *payload);

/* Message for a vm_validate() result: `Invalid value(s) for: a,b`, else
 * `Missing required properties: a,b`, else
 * `Invalid properties for brand "<b>": a,b (not allowed on <action>)`. */
int vm_validate_err(json_t *res, const char *brand, const char *action, vm_err *err);

/* Individual value checks shared with update/disk code. */
int vm_check_integer(json_t *v, int64_t *out); /* 0 ok; accepts numeric strings */
int vm_check_boolean(json_t *v, int *out); /* true/false/"true"/"false"/1/0 */
int vm_valid_mac(const char *s);
int vm_valid_alias(const char *s);

#endif
