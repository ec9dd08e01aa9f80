/*
 * object.c: PKCS #11 v2.40 §5.7 object management — C_CreateObject,
 * C_CopyObject, C_DestroyObject, C_GetObjectSize, C_GetAttributeValue,
 * C_SetAttributeValue, C_FindObjectsInit, C_FindObjects, C_FindObjectsFinal.
 *
 * Templates travel as CK_ATTRIBUTE bytes (docs/protocol.md §3: type, length,
 * the bytes of pValue; a CK_ULONG value is 8 bytes little-endian, a CK_BBOOL
 * one byte), so this file knows no attribute: whether a value has the right
 * size, whether an attribute applies to the class, may be set or read — the
 * HSM decides (packages/hsm-core/src/objects/policy.ts) and answers with the
 * standard CK_RV. Attributes whose type has CKF_ARRAY_ATTRIBUTE (templates
 * inside templates) hold pointers; they travel as they are and the HSM, which
 * implements none of them, refuses them by type.
 *
 * C_GetAttributeValue is the one place that reads attribute answers: the
 * daemon returns `rvs` (one per requested type: 0, CKR_ATTRIBUTE_SENSITIVE or
 * CKR_ATTRIBUTE_TYPE_INVALID) and `attributes` (the values of those with rv 0,
 * in order), and this file fills the caller's template exactly as §5.7
 * specifies: a NULL pValue receives the length; a short buffer gets
 * CK_UNAVAILABLE_INFORMATION and the call CKR_BUFFER_TOO_SMALL; a refused type
 * gets CK_UNAVAILABLE_INFORMATION and its rv; every other entry is still
 * filled.
 *
 * C_FindObjectsInit asks the HSM for every match at once and C_FindObjects
 * hands them out in slices.
 */
#include <stdlib.h>
#include <string.h>

#include "p11.h"

/* The protocol's bound on getAttributeValue.types (§6.2): longer templates are asked in slices. */
#define GET_SLICE 64

CK_RV p11_put_template(ochsm_builder *b, uint16_t id, const CK_ATTRIBUTE *t, CK_ULONG n) {
    if (t == NULL && n != 0) return CKR_ARGUMENTS_BAD;
    if (n > 4096) return CKR_ARGUMENTS_BAD; /* far above the protocol's 64; refused before allocating */
    ochsm_attr stackbuf[16];
    ochsm_attr *a = n <= 16 ? stackbuf : malloc(n * sizeof *a);
    if (!a) return CKR_HOST_MEMORY;
    CK_RV rv = CKR_OK;
    for (CK_ULONG i = 0; i < n; i++) {
        if (t[i].type > UINT32_MAX) {
            rv = CKR_ATTRIBUTE_TYPE_INVALID;
            break;
        }
        if (t[i].ulValueLen > UINT32_MAX || (t[i].pValue == NULL && t[i].ulValueLen != 0)) {
            rv = CKR_ARGUMENTS_BAD;
            break;
        }
        a[i].type = (uint32_t)t[i].type;
        a[i].len = (uint32_t)t[i].ulValueLen;
        a[i].value = t[i].pValue;
    }
    if (rv == CKR_OK) ochsm_put_attrs(b, id, a, n);
    if (a != stackbuf) free(a);
    return rv;
}

/* ───────────── create, copy, destroy (p11_request) ───────────── */

typedef struct {
    CK_OBJECT_HANDLE h;
    CK_ATTRIBUTE_PTR t;
    CK_ULONG n;
    CK_OBJECT_HANDLE_PTR out;
} obj_args;

static CK_RV new_handle(p11_req *q, uint16_t id) {
    obj_args *a = q->ctx;
    uint64_t h;
    if (!p11_result_u64(&q->r, id, &h)) return CKR_DEVICE_ERROR;
    *a->out = (CK_OBJECT_HANDLE)h;
    return CKR_OK;
}

static CK_RV create_build(p11_req *q) {
    obj_args *a = q->ctx;
    if (a->out == NULL) return CKR_ARGUMENTS_BAD;
    ochsm_put_u64(&q->b, OCHSM_Q_CREATE_OBJECT_SESSION, q->s->remote);
    CK_RV rv = p11_put_template(&q->b, OCHSM_Q_CREATE_OBJECT_TEMPLATE, a->t, a->n);
    if (rv == CKR_OK) p11_put_creator(q->s, &q->b, OCHSM_Q_CREATE_OBJECT_CREATOR); /* ids ascend */
    if (rv == CKR_OK) p11_put_read_only(q->s, &q->b, OCHSM_Q_CREATE_OBJECT_READ_ONLY);
    return rv;
}

static CK_RV create_parse(p11_req *q) { return new_handle(q, OCHSM_R_CREATE_OBJECT_HANDLE); }

P11_EXPORT CK_RV C_CreateObject(CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount,
                                CK_OBJECT_HANDLE_PTR phObject) {
    obj_args a = {0, pTemplate, ulCount, phObject};
    return p11_request(hSession, OCHSM_OP_CREATE_OBJECT, NULL, create_build, create_parse, &a);
}

static CK_RV copy_build(p11_req *q) {
    obj_args *a = q->ctx;
    if (a->out == NULL) return CKR_ARGUMENTS_BAD;
    if (!p11_number_ok(a->h)) return CKR_OBJECT_HANDLE_INVALID;
    ochsm_put_u64(&q->b, OCHSM_Q_COPY_OBJECT_SESSION, q->s->remote);
    ochsm_put_u64(&q->b, OCHSM_Q_COPY_OBJECT_HANDLE, a->h);
    CK_RV rv = p11_put_template(&q->b, OCHSM_Q_COPY_OBJECT_TEMPLATE, a->t, a->n);
    if (rv == CKR_OK) p11_put_creator(q->s, &q->b, OCHSM_Q_COPY_OBJECT_CREATOR); /* ids ascend */
    if (rv == CKR_OK) p11_put_read_only(q->s, &q->b, OCHSM_Q_COPY_OBJECT_READ_ONLY);
    return rv;
}

static CK_RV copy_parse(p11_req *q) { return new_handle(q, OCHSM_R_COPY_OBJECT_HANDLE); }

P11_EXPORT CK_RV C_CopyObject(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, CK_ATTRIBUTE_PTR pTemplate,
                              CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phNewObject) {
    obj_args a = {hObject, pTemplate, ulCount, phNewObject};
    return p11_request(hSession, OCHSM_OP_COPY_OBJECT, NULL, copy_build, copy_parse, &a);
}

static CK_RV destroy_build(p11_req *q) {
    obj_args *a = q->ctx;
    if (!p11_number_ok(a->h)) return CKR_OBJECT_HANDLE_INVALID;
    ochsm_put_u64(&q->b, OCHSM_Q_DESTROY_OBJECT_SESSION, q->s->remote);
    ochsm_put_u64(&q->b, OCHSM_Q_DESTROY_OBJECT_HANDLE, a->h);
    p11_put_read_only(q->s, &q->b, OCHSM_Q_DESTROY_OBJECT_READ_ONLY);
    return CKR_OK;
}

P11_EXPORT CK_RV C_DestroyObject(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject) {
    obj_args a = {hObject, NULL, 0, NULL};
    return p11_request(hSession, OCHSM_OP_DESTROY_OBJECT, NULL, destroy_build, NULL, &a);
}

P11_EXPORT CK_RV C_GetObjectSize(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, CK_ULONG_PTR pulSize) {
    (void)hSession;
    (void)hObject;
    (void)pulSize;
    CK_RV rv = p11_check_ready();
    return rv != CKR_OK ? rv : CKR_FUNCTION_NOT_SUPPORTED;
}

/* Ask for pTemplate[0..n) and fill it; *overall collects the call's CK_RV. */
static CK_RV get_slice(p11_session *s, CK_OBJECT_HANDLE h, CK_ATTRIBUTE *t, CK_ULONG n, CK_RV *overall) {
    uint64_t types[GET_SLICE];
    for (CK_ULONG i = 0; i < n; i++) {
        if (!p11_number_ok(t[i].type)) {
            /* No attribute has such a number; answer it without asking. */
            types[i] = P11_MAX_NUMBER;
        } else {
            types[i] = t[i].type;
        }
    }
    ochsm_builder b;
    ochsm_response r;
    ochsm_builder_init(&b, NULL);
    ochsm_put_u64(&b, OCHSM_Q_GET_ATTRIBUTE_VALUE_SESSION, s->remote);
    ochsm_put_u64(&b, OCHSM_Q_GET_ATTRIBUTE_VALUE_HANDLE, h);
    ochsm_put_u64_list(&b, OCHSM_Q_GET_ATTRIBUTE_VALUE_TYPES, types, n);
    CK_RV rv = p11_call(OCHSM_OP_GET_ATTRIBUTE_VALUE, &b, &r);
    if (rv == CKR_OK) {
        ochsm_field fa, fr;
        ochsm_iter ia, ir;
        if (!p11_result_field(&r, OCHSM_R_GET_ATTRIBUTE_VALUE_ATTRIBUTES, &fa) || !p11_result_field(&r, OCHSM_R_GET_ATTRIBUTE_VALUE_RVS, &fr) || fr.count != n ||
            ochsm_field_iter(&fa, &ia) != OCHSM_OK || ochsm_field_iter(&fr, &ir) != OCHSM_OK) {
            rv = CKR_DEVICE_ERROR;
        } else {
            for (CK_ULONG i = 0; i < n && rv == CKR_OK; i++) {
                uint64_t arv;
                if (ochsm_iter_u64(&ir, &arv) != 1) {
                    rv = CKR_DEVICE_ERROR;
                    break;
                }
                if (arv != CKR_OK) {
                    t[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
                    *overall = (CK_RV)arv;
                    continue;
                }
                ochsm_attr a;
                if (ochsm_iter_attr(&ia, &a) != 1 || a.type != (uint32_t)t[i].type) {
                    rv = CKR_DEVICE_ERROR;
                    break;
                }
                if (t[i].pValue == NULL) {
                    t[i].ulValueLen = a.len;
                } else if (t[i].ulValueLen < a.len) {
                    t[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
                    if (*overall == CKR_OK) *overall = CKR_BUFFER_TOO_SMALL;
                } else {
                    if (a.len) memcpy(t[i].pValue, a.value, a.len);
                    t[i].ulValueLen = a.len;
                }
            }
        }
    }
    ochsm_response_free(&r);
    ochsm_builder_free(&b);
    return rv;
}

P11_EXPORT CK_RV C_GetAttributeValue(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, CK_ATTRIBUTE_PTR pTemplate,
                                     CK_ULONG ulCount) {
    p11_session *s;
    CK_RV rv = p11_session_acquire(hSession, &s);
    if (rv != CKR_OK) return rv;
    CK_RV overall = CKR_OK;
    if (pTemplate == NULL && ulCount != 0) {
        rv = CKR_ARGUMENTS_BAD;
    } else if (!p11_number_ok(hObject)) {
        rv = CKR_OBJECT_HANDLE_INVALID;
    } else if (ulCount == 0) {
        rv = CKR_OK;
    } else {
        for (CK_ULONG off = 0; off < ulCount && rv == CKR_OK; off += GET_SLICE) {
            CK_ULONG n = ulCount - off < GET_SLICE ? ulCount - off : GET_SLICE;
            rv = get_slice(s, hObject, pTemplate + off, n, &overall);
        }
    }
    p11_session_release(s);
    return rv != CKR_OK ? rv : overall;
}

static CK_RV set_build(p11_req *q) {
    obj_args *a = q->ctx;
    if (!p11_number_ok(a->h)) return CKR_OBJECT_HANDLE_INVALID;
    ochsm_put_u64(&q->b, OCHSM_Q_SET_ATTRIBUTE_VALUE_SESSION, q->s->remote);
    ochsm_put_u64(&q->b, OCHSM_Q_SET_ATTRIBUTE_VALUE_HANDLE, a->h);
    CK_RV rv = p11_put_template(&q->b, OCHSM_Q_SET_ATTRIBUTE_VALUE_TEMPLATE, a->t, a->n);
    if (rv == CKR_OK) p11_put_read_only(q->s, &q->b, OCHSM_Q_SET_ATTRIBUTE_VALUE_READ_ONLY);
    return rv;
}

P11_EXPORT CK_RV C_SetAttributeValue(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, CK_ATTRIBUTE_PTR pTemplate,
                                     CK_ULONG ulCount) {
    obj_args a = {hObject, pTemplate, ulCount, NULL};
    return p11_request(hSession, OCHSM_OP_SET_ATTRIBUTE_VALUE, NULL, set_build, NULL, &a);
}

P11_EXPORT CK_RV C_FindObjectsInit(CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount) {
    p11_session *s;
    CK_RV rv = p11_session_acquire(hSession, &s);
    if (rv != CKR_OK) return rv;
    if (s->find_active) {
        p11_session_release(s);
        return CKR_OPERATION_ACTIVE;
    }
    ochsm_builder b;
    ochsm_response r;
    memset(&r, 0, sizeof r);
    ochsm_builder_init(&b, NULL);
    ochsm_put_u64(&b, OCHSM_Q_FIND_OBJECTS_SESSION, s->remote);
    if ((rv = p11_put_template(&b, OCHSM_Q_FIND_OBJECTS_TEMPLATE, pTemplate, ulCount)) != CKR_OK) goto out;
    rv = p11_call(OCHSM_OP_FIND_OBJECTS, &b, &r);
    if (rv == CKR_OK) {
        ochsm_field f;
        ochsm_iter it;
        if (!p11_result_field(&r, OCHSM_R_FIND_OBJECTS_HANDLES, &f) || ochsm_field_iter(&f, &it) != OCHSM_OK) {
            rv = CKR_DEVICE_ERROR;
            goto out;
        }
        CK_OBJECT_HANDLE *found = f.count ? malloc(f.count * sizeof *found) : NULL;
        if (f.count && !found) {
            rv = CKR_HOST_MEMORY;
            goto out;
        }
        uint64_t v;
        size_t n = 0;
        while (n < f.count && ochsm_iter_u64(&it, &v) == 1) found[n++] = (CK_OBJECT_HANDLE)v;
        free(s->found);
        s->found = found;
        s->nfound = n;
        s->found_pos = 0;
        s->find_active = 1;
    }
out:
    ochsm_response_free(&r);
    ochsm_builder_free(&b);
    p11_session_release(s);
    return rv;
}

P11_EXPORT CK_RV C_FindObjects(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE_PTR phObject, CK_ULONG ulMaxObjectCount,
                               CK_ULONG_PTR pulObjectCount) {
    p11_session *s;
    CK_RV rv = p11_session_acquire(hSession, &s);
    if (rv != CKR_OK) return rv;
    if (!s->find_active) {
        rv = CKR_OPERATION_NOT_INITIALIZED;
    } else if (pulObjectCount == NULL || (phObject == NULL && ulMaxObjectCount != 0)) {
        rv = CKR_ARGUMENTS_BAD;
    } else {
        CK_ULONG n = 0;
        while (n < ulMaxObjectCount && s->found_pos < s->nfound) phObject[n++] = s->found[s->found_pos++];
        *pulObjectCount = n;
    }
    p11_session_release(s);
    return rv;
}

P11_EXPORT CK_RV C_FindObjectsFinal(CK_SESSION_HANDLE hSession) {
    p11_session *s;
    CK_RV rv = p11_session_acquire(hSession, &s);
    if (rv != CKR_OK) return rv;
    if (!s->find_active) {
        rv = CKR_OPERATION_NOT_INITIALIZED;
    } else {
        free(s->found);
        s->found = NULL;
        s->nfound = s->found_pos = 0;
        s->find_active = 0;
    }
    p11_session_release(s);
    return rv;
}
