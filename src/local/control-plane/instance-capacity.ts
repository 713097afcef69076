/**
 * What one instance of an endpoint's variant offers the copies of inference components placed on
 * it, and a first-fit placement of those copies by their `ComputeResourceRequirements`.
 */

/** What one instance offers: vCPUs, memory in MB and accelerator devices (GPUs). */
export interface InstanceCapacity {
  vcpus: number;
  memoryMb: number;
  accelerators: number;
}

/** What one copy of an inference component takes: `ComputeResourceRequirements`, accelerators and CPU 0 when not given. */
export interface CopyRequirements {
  NumberOfCpuCoresRequired?: number;
  NumberOfAcceleratorDevicesRequired?: number;
  MinMemoryRequiredInMb: number;
}

/**
 * The GPU instance types with vCPUs, GiB of memory per vCPU and GPUs as AWS publishes them in
 * "Supported algorithms, frameworks, and instances for multi-model endpoints"
 * (https://docs.aws.amazon.com/sagemaker/latest/dg/multi-model-support.html).
 */
const GPU_TYPES: ReadonlyArray<[string, number, number, number]> = [
  ['ml.p2.xlarge', 4, 15.25, 1],
  ['ml.p3.2xlarge', 8, 7.62, 1],
  ['ml.g5.xlarge', 4, 4, 1],
  ['ml.g5.2xlarge', 8, 4, 1],
  ['ml.g5.4xlarge', 16, 4, 1],
  ['ml.g5.8xlarge', 32, 4, 1],
  ['ml.g5.16xlarge', 64, 4, 1],
  ['ml.g4dn.xlarge', 4, 4, 1],
  ['ml.g4dn.2xlarge', 8, 4, 1],
  ['ml.g4dn.4xlarge', 16, 4, 1],
  ['ml.g4dn.8xlarge', 32, 4, 1],
];

/**
 * The M5 types (no accelerators) with vCPUs and memory in GiB as the EC2 User Guide's
 * "General purpose instances" hardware specifications give them
 * (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/general-purpose-instances.html).
 */
const CPU_TYPES: ReadonlyArray<[string, number, number]> = [
  ['ml.m5.large', 2, 8],
  ['ml.m5.xlarge', 4, 16],
  ['ml.m5.2xlarge', 8, 32],
  ['ml.m5.4xlarge', 16, 64],
  ['ml.m5.12xlarge', 48, 192],
  ['ml.m5.24xlarge', 96, 384],
];

const TABLE = new Map<string, InstanceCapacity>([
  ...GPU_TYPES.map(([type, vcpus, perVcpu, gpus]): [string, InstanceCapacity] => [type, { vcpus, memoryMb: Math.round(vcpus * perVcpu * 1024), accelerators: gpus }]),
  ...CPU_TYPES.map(([type, vcpus, gib]): [string, InstanceCapacity] => [type, { vcpus, memoryMb: gib * 1024, accelerators: 0 }]),
]);

/** What one instance of `type` offers, or undefined for a type not in the table (placed as unbounded). */
export function instanceCapacity(type: string | undefined): InstanceCapacity | undefined {
  return type === undefined ? undefined : TABLE.get(type);
}

/** The copies of one component to place: how many, and what each takes. */
export interface CopyDemand {
  copies: number;
  requirements: CopyRequirements;
}

/**
 * Slack for the float vCPUs and accelerators the API allows (0.25 vCPUs and up): what is left after
 * taking 0.4 vCPU nineteen times from 8 is a hair under 0.4, and the twentieth copy must still fit.
 */
const EPSILON = 1e-9;

function fits(free: InstanceCapacity, req: CopyRequirements): boolean {
  return (req.NumberOfCpuCoresRequired ?? 0) <= free.vcpus + EPSILON && req.MinMemoryRequiredInMb <= free.memoryMb && (req.NumberOfAcceleratorDevicesRequired ?? 0) <= free.accelerators + EPSILON;
}

/**
 * Places copies first-fit, demand by demand in the order given, each copy on the first of
 * `instances` instances of `capacity` with room left for it. Returns how many copies of each
 * demand found room (the rest do not fit).
 */
export function placeFirstFit(capacity: InstanceCapacity, instances: number, demands: readonly CopyDemand[]): number[] {
  const free: InstanceCapacity[] = Array.from({ length: instances }, () => ({ ...capacity }));
  return demands.map(({ copies, requirements: req }) => {
    let placed = 0;
    for (let c = 0; c < copies; c++) {
      const slot = free.find((f) => fits(f, req));
      if (!slot) break;
      slot.vcpus -= req.NumberOfCpuCoresRequired ?? 0;
      slot.memoryMb -= req.MinMemoryRequiredInMb;
      slot.accelerators -= req.NumberOfAcceleratorDevicesRequired ?? 0;
      placed++;
    }
    return placed;
  });
}

/**
 * How many copies of `demand` fit on `instances` instances of `capacity` beside the copies `placed`
 * already take, or undefined when those copies themselves are not found to fit. The copies placed
 * are bound to no instance, so any packing of them all will do: they are packed first-fit in the
 * order given, then largest first, since an order that differs from the one they were placed in
 * (a component that grew after another was placed) may leave one of them out, and counting the room
 * it takes as free would place more copies than the instances hold.
 */
export function placeBeside(capacity: InstanceCapacity, instances: number, placed: readonly CopyDemand[], demand: CopyDemand): number | undefined {
  const size = (d: CopyDemand): number[] => [d.requirements.NumberOfAcceleratorDevicesRequired ?? 0, d.requirements.NumberOfCpuCoresRequired ?? 0, d.requirements.MinMemoryRequiredInMb];
  const largestFirst = [...placed].sort((a, b) => {
    const [x, y] = [size(a), size(b)];
    return y[0]! - x[0]! || y[1]! - x[1]! || y[2]! - x[2]!;
  });
  let best: number | undefined;
  for (const order of [placed, largestFirst]) {
    const counts = placeFirstFit(capacity, instances, [...order, demand]);
    if (order.every((d, i) => counts[i] === d.copies)) best = Math.max(best ?? 0, counts.at(-1)!);
  }
  return best;
}

/** `capacity` in words, for a message: "8 vCPUs, 32768 MB and 1 accelerator". */
export function describeCapacity(capacity: InstanceCapacity): string {
  return `${capacity.vcpus} vCPUs, ${capacity.memoryMb} MB and ${capacity.accelerators} accelerator${capacity.accelerators === 1 ? '' : 's'}`;
}
