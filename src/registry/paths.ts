/** Distribution's on-disk layout; the only place that builds storage paths. */
import type { Digest } from '../oci/names.js';

export const ROOT = '/docker/registry/v2';
export const REPOSITORIES = `${ROOT}/repositories`;
export const BLOBS = `${ROOT}/blobs`;

export const blobDir = (d: Digest) => `${BLOBS}/${d.algorithm}/${d.hex.slice(0, 2)}/${d.hex}`;
export const blobData = (d: Digest) => `${blobDir(d)}/data`;
export const blobAlgorithmDir = (algorithm: string) => `${BLOBS}/${algorithm}`;
/** wharf only: where garbage collection parks a blob's data between deciding to delete it and deleting it. */
export const blobQuarantine = (d: Digest) => `${blobDir(d)}/gc-quarantine`;

export const repoDir = (name: string) => `${REPOSITORIES}/${name}`;
export const layerLink = (name: string, d: Digest) => `${repoDir(name)}/_layers/${d.algorithm}/${d.hex}/link`;
export const layersDir = (name: string) => `${repoDir(name)}/_layers`;
export const manifestsDir = (name: string) => `${repoDir(name)}/_manifests`;
export const revisionsRoot = (name: string) => `${manifestsDir(name)}/revisions`;
export const revisionsDir = (name: string, algorithm: string) => `${revisionsRoot(name)}/${algorithm}`;
export const revisionDir = (name: string, d: Digest) => `${revisionsDir(name, d.algorithm)}/${d.hex}`;
export const revisionLink = (name: string, d: Digest) => `${revisionDir(name, d)}/link`;
/** wharf only: where garbage collection parks a revision link it is about to remove. */
export const revisionQuarantine = (name: string, d: Digest) => `${revisionDir(name, d)}/gc-quarantine`;
export const layersAlgorithmDir = (name: string, algorithm: string) => `${layersDir(name)}/${algorithm}`;
export const layerLinkDir = (name: string, d: Digest) => `${layersAlgorithmDir(name, d.algorithm)}/${d.hex}`;
export const tagsDir = (name: string) => `${manifestsDir(name)}/tags`;
export const tagDir = (name: string, tag: string) => `${tagsDir(name)}/${tag}`;
export const tagCurrentLink = (name: string, tag: string) => `${tagDir(name, tag)}/current/link`;
export const tagIndexLink = (name: string, tag: string, d: Digest) =>
  `${tagDir(name, tag)}/index/${d.algorithm}/${d.hex}/link`;
export const uploadsDir = (name: string) => `${repoDir(name)}/_uploads`;
export const uploadDir = (name: string, id: string) => `${uploadsDir(name)}/${id}`;
export const uploadData = (name: string, id: string) => `${uploadDir(name, id)}/data`;
export const uploadStartedAt = (name: string, id: string) => `${uploadDir(name, id)}/startedat`;

/** Last path component. */
export const basename = (p: string) => p.slice(p.lastIndexOf('/') + 1);
