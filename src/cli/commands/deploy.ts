import type { Command } from 'commander';

/** Registers `smkit deploy`: one endpoint file to SageMaker (AWS or the local SageMaker), or to a CloudFormation template. */
export function registerDeploy(program: Command): void {
  program
    .command('deploy')
    .description('Deploy the endpoints of an endpoint file to SageMaker: package and upload models, then plan and apply models, endpoint config, alarms, endpoint (blue/green with the deploymentConfig) and autoscaling')
    .argument('<endpoint-file>', 'the endpoint file (.yaml, .yml or .json) with a deploy: section')
    .option('--endpoint-url <url>', 'send SageMaker, CloudWatch and Application Auto Scaling calls to this URL (the local SageMaker: http://127.0.0.1:PORT); S3 follows AWS_ENDPOINT_URL_S3')
    .option('--region <region>', 'AWS Region (default: deploy.region, else AWS_REGION or the profile)')
    .option('--dry-run', 'print the plan (create / update / unchanged per resource) and change nothing')
    .option('--delete', 'remove what the file deployed: scaling, endpoint, configs, models, alarms (archives stay)')
    .option('--template <file>', 'write the deployment as a CloudFormation template (.json, or .yaml/.yml) and upload the archives it references, instead of calling SageMaker')
    .option('--build', 'build smkit\'s image and push it to deploy.image (ECR login on AWS) before deploying')
    .option('--engine <engine>', 'with --build: docker or podman (default: docker if its daemon answers, else podman)')
    .option('--variant <variant>', 'with --build: cpu or gpu, the image to build (default: gpu when a variant that runs it has an NVIDIA GPU instance type, else cpu)')
    // No commander defaults: readDeployRequest fills them, and refuses these with --template only when typed.
    .option('--poll-interval <seconds>', 'seconds between DescribeEndpoint calls while waiting, at most 3600 (default: 5)')
    .option('--timeout <seconds>', 'longest wait for an endpoint to be InService or deleted (default: 3600)')
    .action(async (file: string, opts) => {
      // The flags and the file are checked before the deployment code (and its AWS SDK clients) loads.
      const { readDeployRequest } = await import('../../deploy/request.js');
      const request = await readDeployRequest(file, opts);
      const { deployCommand } = await import('../../deploy/command.js');
      await deployCommand(request);
    });
}
