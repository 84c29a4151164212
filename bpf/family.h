/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Linux address family numbers as the drop and creation records store
 * them (AF_INET and AF_INET6 are #defines, which BTF does not carry). */
#ifndef NFSLEUTH_FAMILY_H
#define NFSLEUTH_FAMILY_H

#define NFS_AF_INET_ABI 2
#define NFS_AF_INET6_ABI 10

#endif
