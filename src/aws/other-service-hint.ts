/**
 * What to do when a client of a service smkit local does not answer reached it: most often every
 * service's calls were sent there with `AWS_ENDPOINT_URL` (an SDK's credential or identity call,
 * STS's GetCallerIdentity, SNS for an alarm), where the service-specific variables send only some.
 */
export const OTHER_SERVICE_HINT =
  'a client of another AWS service was pointed at this server: set the service-specific variables of the services it answers ' +
  '(AWS_ENDPOINT_URL_SAGEMAKER, AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME, AWS_ENDPOINT_URL_CLOUDWATCH, AWS_ENDPOINT_URL_CLOUDWATCH_LOGS, ' +
  'AWS_ENDPOINT_URL_APPLICATION_AUTO_SCALING) rather than AWS_ENDPOINT_URL, which sends every service\'s calls here';
