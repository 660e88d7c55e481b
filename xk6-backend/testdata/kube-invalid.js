// A valid and an invalid TaskRun per iteration, ITERATIONS times: the
// invalid one is rejected by the API server (422 Invalid: the CRD's schema
// types spec.retries; spec.taskSpec it does not, so a bad step would be
// stored and only Tekton's webhook or controller would refuse it) and
// counted as such, with the server's message.
import { check } from 'k6';
import { newKube } from '../../fixtures/load/lib.js';

const kube = newKube();
const ITERATIONS = parseInt(__ENV.ITERATIONS || '5', 10);
const step = { name: 'step-0', image: 'busybox', script: '#!/bin/sh\necho ok\n' };
const valid = kube.template({ apiVersion: 'tekton.dev/v1', kind: 'TaskRun', spec: { taskSpec: { steps: [step] } } });
const invalid = kube.template({ apiVersion: 'tekton.dev/v1', kind: 'TaskRun', spec: { retries: 'three', taskSpec: { steps: [step] } } });

export const options = {
  scenarios: { invalid: { executor: 'shared-iterations', vus: 1, iterations: ITERATIONS, maxDuration: '60s' } },
  thresholds: {
    'backend_kube_objects_created{kind:TaskRun}': [`count==${ITERATIONS}`],
    'backend_kube_objects_rejected{kind:TaskRun,reason:Invalid}': [`count==${ITERATIONS}`],
    backend_kube_objects_failed: ['count==0'],
    checks: ['rate==1'],
  },
};

export default function () {
  check(kube.create(valid), { 'valid created': (r) => r.ok && r.status === 201 && r.outcome === 'created' });
  const r = kube.create(invalid);
  check(r, { 'invalid rejected with the schema error': (x) => x.outcome === 'rejected' && x.status === 422 && x.reason === 'Invalid' && /spec.retries/.test(x.error) });
}
