/* The cloud-init NoCloud seed of a VM: the files a guest without the
 * SmartOS datasource reads from a "cidata" volume, generated from the same
 * keys the metadata service serves (keys.h), so that a guest configured
 * either way ends up the same.  Pure: VM object in, file contents out.
 *
 * Mapping (cloud-init's DataSourceSmartOS is the reference):
 *   meta-data       instance-id: uuid;
 *                   local-hostname: customer_metadata "hostname", else the
 *                     VM's hostname, else the uuid (SmartOS ds order);
 *                   public-keys: the lines of customer_metadata
 *                     "root_authorized_keys" (cloud-init gives them to the
 *                     default user, as with the SmartOS ds).
 *   user-data       customer_metadata "cloud-init:user-data" verbatim (the
 *                   SmartOS ds's user-data); else "#cloud-config\n{}\n".
 *                   customer_metadata "user-data" is, as on SmartOS, not
 *                   cloud-init user-data: it is written to the guest's
 *                   /var/db/mdata-user-data (vendor-data).
 *   vendor-data     what the SmartOS ds's built-in vendor-data does: the
 *                   user-script written to /var/db/mdata-user-script (0700)
 *                   and run at every boot by a per-boot script
 *                   (/var/lib/cloud/scripts/per-boot/01_smartos_vendor_data.sh),
 *                   the legacy "user-data" key to /var/db/mdata-user-data
 *                   (0600).  Contents travel base64-encoded (write_files
 *                   encoding b64).  "#cloud-config\n{}\n" when neither key
 *                   is set.  Unlike SmartOS, a changed user-script reaches
 *                   the guest's disk only on a new instance (write_files is
 *                   per instance); the seed itself is current at each start.
 *   network-config  version 1, exactly what cloud-init's
 *                   convert_smartos_network_data makes of sdc:nics,
 *                   sdc:resolvers, sdc:dns_domain and sdc:routes (keys.h's
 *                   routes); only when the VM has "nics" (without it the
 *                   SmartOS ds has no network config either and cloud-init
 *                   falls back to DHCP on the first NIC).
 *
 * Structure safety: meta-data, network-config and vendor-data are YAML
 * flow collections whose keys are ours and whose every payload string is a
 * double-quoted scalar with everything outside YAML's printable set (and
 * '"', '\\') escaped, so no value (newlines, control bytes, quotes,
 * U+2028, NUL) can change the structure.  The total is bounded by
 * ISO9660_MAX_SIZE when the image is built.
 *
 * Fails (VMERR_INVALID) only on a VM object without a valid uuid. */
#ifndef VM_MDATA_NOCLOUD_H
#define VM_MDATA_NOCLOUD_H

#include <stddef.h>
#include <stdio.h>
#include <time.h>
#include <jansson.h>

#include "common/err.h"
#include "mdata/iso9660.h"

#define MDATA_SEED_MAX_FILES 4
#define MDATA_SEED_VOLID "cidata"

typedef struct mdata_seed {
    iso9660_file files[MDATA_SEED_MAX_FILES]; /* data malloc'd, NUL-terminated */
    size_t n;
} mdata_seed;

int mdata_nocloud_seed(json_t *vm, mdata_seed *out, vm_err *err);
void mdata_seed_free(mdata_seed *s);
/* The seed as a "cidata" ISO 9660 image (iso9660.h; `when` its dates). */
int mdata_nocloud_image(json_t *vm, time_t when, char **img, size_t *len, vm_err *err);

/* YAML double-quoted scalar of s (len bytes of UTF-8) to f; exposed for
 * the fuzz harness and tests. */
void mdata_yaml_quote(FILE *f, const char *s, size_t len);

#endif
