/** @module Terminal I/O of azcloudhsm_mgmt_util: shared with azcloudhsm_util, see ../common/io.ts. */
export * from '../common/io.js';
