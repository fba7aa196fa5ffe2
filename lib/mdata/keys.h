/* Which metadata keys a guest sees, from its own VM object only (the
 * caller passes the object of the VM the connection belongs to; no key
 * can name another VM).  Pure: no I/O.  Follows SmartOS's metadata agent
 * (smartos-live src/vm/lib/metadata/agent.js):
 *
 * GET
 *   <key>             customer_metadata[key]; a key ending in "_pw" or
 *                     whose "<ns>:" prefix is listed in
 *                     internal_metadata_namespaces: internal_metadata[key]
 *   sdc:nics, sdc:resolvers, sdc:tmpfs
 *                     the property as compact JSON (when present)
 *   sdc:routes        JSON [{linklocal, dst, gateway}]; a "nics[N]" gateway
 *                     is NIC N's ip (skipped when it has none or dhcp)
 *   sdc:operator-script  internal_metadata["operator-script"]
 *   sdc:<a.b.c>       the VM object's property at that dotted path
 *                     (sdc:uuid, sdc:hostname, sdc:alias, sdc:tags.<k>,
 *                     sdc:nics.0.mac, ...).  Unlike SmartOS, never
 *                     internal_metadata (only through the rules above) nor
 *                     vnc_password / spice_password.
 *   Values: a string as is, a number or boolean as its JSON text, absent or
 *   null NOTFOUND, an object or array (outside the JSON keys) FAILURE.
 * KEYS   customer keys (minus *_pw and namespaced), then internal keys that
 *        are *_pw or namespaced; one per line.
 * PUT / DELETE
 *   refused for "sdc:" keys ("Cannot update the \"sdc\" Namespace.") and
 *   internal namespaces ("Cannot update the \"<ns>\" Namespace."); a *_pw
 *   key or operator-script goes to internal_metadata, the rest to
 *   customer_metadata; PUT with an empty value deletes (as SmartOS).  The
 *   result is a vm_update payload (set_/remove_<which>_metadata). */
#ifndef VM_MDATA_KEYS_H
#define VM_MDATA_KEYS_H

#include <stddef.h>
#include <jansson.h>

enum mdata_result { MDATA_R_SUCCESS = 0, MDATA_R_NOTFOUND, MDATA_R_FAILURE };

/* *out: malloc'd value (SUCCESS), malloc'd message or NULL (FAILURE), NULL
 * (NOTFOUND). */
int mdata_get(json_t *vm, const char *key, char **out, size_t *outlen);
/* The KEYS answer ("" when none), malloc'd. */
char *mdata_keys(json_t *vm);
#define MDATA_WHY_MAX 320
/* PUT (value non-empty) or DELETE (value NULL or "") of key: the
 * vm_update payload (new reference), or NULL with the refusal in why. */
json_t *mdata_update_payload(json_t *vm, const char *key, const char *value, char why[MDATA_WHY_MAX]);

#endif
