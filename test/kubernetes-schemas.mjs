// Checks Kubernetes objects against the Kubernetes API's schemas (kubernetes-models; CloudNativePG's
// custom resources against its CRDs' schemas, @kubernetes-models/cloudnative-pg) for
// test/kubernetes.test.ts, in a Node.js process of its own: kubernetes-models is ES modules only since
// its 5.x, which Jest's CommonJS module system cannot load. Reads a JSON array of objects on standard
// input; writes a JSON array with, for each, what the schemas refuse (null when they accept it).
import { readFileSync } from 'node:fs';
import * as models from 'kubernetes-models';
import * as cloudNativePg from '@kubernetes-models/cloudnative-pg';

/** The model class for an object's apiVersion and kind, from kubernetes-models' modules. */
function modelFor(object) {
  const [group, version] = object.apiVersion.includes('/') ? object.apiVersion.split('/') : ['', object.apiVersion];
  // networking.k8s.io is exported as networkingK8sIo; the core group ("v1") as v1.
  const exported = group
    .split('.')
    .map((part, index) => (index === 0 ? part : `${part[0]?.toUpperCase()}${part.slice(1)}`))
    .join('');
  // CloudNativePG's Cluster, from the operator's own CRD schemas as kubernetes-models publishes them.
  const module = group ? (models[exported] ?? cloudNativePg[exported])?.[version] : models[version];
  const Found = module?.[object.kind];
  if (!Found) throw new Error(`no schema for ${object.apiVersion} ${object.kind}`);
  return Found;
}

const objects = JSON.parse(readFileSync(0, 'utf8'));
const refusals = objects.map((object) => {
  try {
    const Model = modelFor(object);
    new Model(object).validate();
    return null;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
});
process.stdout.write(JSON.stringify(refusals));
