/* Payload normalisation and validation (reference V1–V12).
 *
 * vm_payload_normalize() coerces what operators send as strings
 * (`vmadm update <uuid> ram=512`) into the table's types; vm_validate()
 * then returns SmartOS's error object, and vm_validate_err() turns it into
 * the one-line message create/update print.  Unlike SmartOS, properties not
 * allowed for the brand are refused (named), never silently dropped. */
#ifndef VM_VALIDATE_H
#define VM_VALIDATE_H

#include <stdbool.h>
#include <jansson.h>
#include "common/err.h"

/* Input limits (issue 14 #7, #13).  A payload beyond them is refused with
 * a message naming the limit, before anything walks its arrays:
 *  - disks: 64 per VM (disks, add_disks, and existing + added).  QEMU has
 *    PCI bus 0 only: 28 usable devices x 8 functions, shared with NICs and
 *    cdroms; automatic placement fills 8 disks + 8 cdroms (D27); 64 is far
 *    above any real VM and keeps every disk-index table small.
 *  - nics: 32 per VM (nics, add_nics, and existing + added).
 *  - customer_metadata, internal_metadata, tags, routes (and their set_*):
 *    1 MiB each as compact JSON.
 * There is no opt-out. */
#define VM_MAX_DISKS 64
#define VM_MAX_NICS 32
#define VM_MAX_META_BYTES (1024 * 1024)

/* 0, or -1 with `<prop> contains <n> <what>, but is limited to <max>`
 * (SmartOS's wording for nic ips) when the payload exceeds a limit above. */
int vm_check_limits(json_t *payload, vm_err *err);

/* RFC 1123 host name: labels of letters, digits and '-' (not at either end
 * of a label), 1-63 chars each, 253 in all, an optional trailing dot. */
bool vm_valid_hostname(const char *s);
/* A plain IPv4 or IPv6 address (resolvers); prefix: "/bits" allowed. */
bool vm_valid_ip(const char *s, bool prefix);

/* action: "create", "receive" or "update". */
int vm_payload_normalize(json_t *payload, const char *action, vm_err *err);

/* NULL when valid; otherwise a new object {"bad_brand": b} or
 * {"bad_values": [...], "bad_properties": [...], "missing_properties": [...]}
 * plus, when a limit or a semantic rule fails, "errors": [message, ...]
 * (limits: the payload's arrays are then not examined further; routes:
 * SmartOS's `Invalid route destination: "<dst>" (must be IP address or
 * CIDR)` and `Invalid route gateway: "<gw>" (must be IP address, MAC
 * address, or nic)`).  hostname (RFC 1123) and resolvers (IP addresses)
 * are bad_values when malformed: a VM with them would never start. */
json_t *vm_validate(const char *brand, const char *action, json_t *payload);

/* Message for a vm_validate() result: a limit's message, else
 * `Invalid value(s) for: a,b`, else `Missing required properties: a,b`,
 * else `Invalid properties for brand "<b>": a,b (not allowed on <action>)`,
 * else the first of "errors". */
int vm_validate_err(json_t *res, const char *brand, const char *action, vm_err *err);

/* routes (C20, V12): destination an IP or CIDR, gateway an IP, a MAC or
 * "nics[N]"; with nics (the VM's NICs, or NULL to skip), "nics[N]" must
 * name an existing NIC with a static address. */
int vm_check_routes(json_t *routes, json_t *nics, vm_err *err);

/* Individual value checks shared with update/disk code. */
int vm_check_integer(json_t *v, int64_t *out); /* 0 ok; accepts numeric strings */
int vm_check_boolean(json_t *v, int *out); /* true/false/"true"/"false"/1/0 */
int vm_valid_mac(const char *s);
/* A valid MAC as six two-digit lower-case octets (C38); false if invalid. */
bool vm_mac_normalize(const char *in, char out[18]);
int vm_valid_alias(const char *s);

#endif
