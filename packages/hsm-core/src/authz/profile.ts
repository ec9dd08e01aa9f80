/**
 * @module The partition's profile (protocol/src/profiles.ts): `azure` (the
 * default) or `standard`. The partition record names it (absent: azure); the
 * core and the node's door read its settings here, one row each, and never
 * ask which profile it is.
 */
import { HsmError } from '../../../protocol/src/errors.js';
import { DEFAULT_PROFILE, PROFILE_NAMES, PROFILE_ROWS, isProfileName, profileSettings, type ProfileName, type ProfileRow, type ProfileSettings } from '../../../protocol/src/profiles.js';
import type { PartitionRecord } from '../partition/records.js';

export type { ProfileName, ProfileRow, ProfileSettings };
export { PROFILE_ROWS, DEFAULT_PROFILE };

/** The profile a partition record names (azure when it names none). */
export function profileOf(rec: Pick<PartitionRecord, 'profile'> | undefined): ProfileName {
  return rec?.profile ?? DEFAULT_PROFILE;
}

/** The settings of the profile a partition record names. */
export function settingsOf(rec: Pick<PartitionRecord, 'profile'> | undefined): ProfileSettings {
  return profileSettings(profileOf(rec));
}

/** A profile name given at initialisation, or a clear error. */
export function parseProfile(name: unknown): ProfileName {
  if (isProfileName(name)) return name;
  throw new HsmError('ERR_ARGUMENTS_BAD', `unknown partition profile ${JSON.stringify(String(name).slice(0, 64))}; known: ${PROFILE_NAMES.join(', ')}`);
}

