/**
 * The EC2 emulator as the SDK sees it: wire format, state machine, faults, throttling, events.
 * The SDK client here does not retry, so every fault is visible.
 */
import {
  CreateFleetCommand,
  CreateTagsCommand,
  DescribeInstancesCommand,
  DescribeLaunchTemplateVersionsCommand,
  EC2Client,
  EC2ServiceException,
  RunInstancesCommand,
  type RunInstancesCommandInput,
  StartInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { afterEach, describe, expect, it } from 'vitest';
import {
  defaultLaunchTemplate,
  defaultSubnets,
  Ec2Emulator,
  type Ec2EmulatorEvent,
  type Ec2EmulatorOptions,
  toEventBridgeEvent,
} from '../../../stand-ins/aws/ec2/index.js';

const [subnetA, subnetB] = Object.keys(defaultSubnets) as [string, string];
const open: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((close) => close()));
});

async function setup(options: Ec2EmulatorOptions = {}) {
  const emulator = await Ec2Emulator.start(options);
  const client = new EC2Client({
    endpoint: emulator.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
    maxAttempts: 1,
  });
  const events: Ec2EmulatorEvent[] = [];
  emulator.onEvent((e) => events.push(e));
  open.push(async () => {
    client.destroy();
    await emulator.close();
  });
  const run = async (input: Partial<RunInstancesCommandInput> = {}) => {
    const output = await client.send(
      new RunInstancesCommand({
        LaunchTemplate: { LaunchTemplateId: defaultLaunchTemplate.id, Version: '$Latest' },
        InstanceType: 'm7i.large',
        SubnetId: subnetA,
        MinCount: 1,
        MaxCount: 1,
        ...input,
      }),
    );
    return (output.Instances ?? []).map((i) => i.InstanceId ?? '');
  };
  const fault = (promise: Promise<unknown>) =>
    promise.then(
      () => {
        throw new Error('expected an EC2 error');
      },
      (e: unknown) => {
        if (!(e instanceof EC2ServiceException)) throw e;
        return { code: e.name, status: e.$metadata.httpStatusCode, message: e.message };
      },
    );
  return { emulator, client, events, run, fault };
}

describe('EC2 emulator: wire format', () => {
  it('answers RunInstances and DescribeInstances as the SDK expects', async () => {
    const { client, run } = await setup();
    const [id] = await run({
      TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'team', Value: 'ci' }] }],
      InstanceMarketOptions: { MarketType: 'spot', SpotOptions: { SpotInstanceType: 'one-time' } },
      InstanceInitiatedShutdownBehavior: 'terminate',
    });
    const output = await client.send(new DescribeInstancesCommand({ InstanceIds: [id ?? ''] }));
    const instance = output.Reservations?.[0]?.Instances?.[0];
    expect(instance).toMatchObject({
      InstanceId: id,
      ImageId: defaultLaunchTemplate.versions[0]?.imageId,
      InstanceType: 'm7i.large',
      State: { Code: 0, Name: 'pending' },
      SubnetId: subnetA,
      Placement: { AvailabilityZone: 'us-east-1a' },
      InstanceLifecycle: 'spot',
    });
    expect(instance?.Tags).toEqual([
      { Key: 'team', Value: 'ci' },
      // EC2 adds these to every instance launched from a template.
      { Key: 'aws:ec2launchtemplate:id', Value: defaultLaunchTemplate.id },
      { Key: 'aws:ec2launchtemplate:version', Value: '1' },
    ]);
    expect(instance?.LaunchTime).toBeInstanceOf(Date);
  });

  it('answers errors in EC2 XML with the request id and the right status', async () => {
    const { emulator } = await setup();
    const post = (body: string) =>
      fetch(emulator.url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body,
      });
    const notFound = await post('Action=StartInstances&Version=2016-11-15&InstanceId.1=i-0123456789abcdef0');
    expect(notFound.status).toBe(400);
    expect(await notFound.text()).toMatch(
      /^<\?xml version="1.0" encoding="UTF-8"\?>\n<Response><Errors><Error><Code>InvalidInstanceID.NotFound<\/Code><Message>The instance ID 'i-0123456789abcdef0' does not exist<\/Message><\/Error><\/Errors><RequestID>[0-9a-f-]{36}<\/RequestID><\/Response>$/,
    );
    const unknown = await post('Action=RebootInstances&Version=2016-11-15');
    expect(unknown.status).toBe(400);
    expect(await unknown.text()).toContain('<Code>InvalidAction</Code>');
  });

  it('resolves launch template versions', async () => {
    const { emulator, client } = await setup();
    emulator.publishLaunchTemplateVersion(defaultLaunchTemplate.name, { imageId: 'ami-0000000000000000b' });
    const latest = await client.send(
      new DescribeLaunchTemplateVersionsCommand({
        LaunchTemplateName: defaultLaunchTemplate.name,
        Versions: ['$Latest', '$Default'],
      }),
    );
    expect(
      latest.LaunchTemplateVersions?.map((v) => [
        v.VersionNumber,
        v.DefaultVersion,
        v.LaunchTemplateData?.ImageId,
      ]),
    ).toEqual([
      [2, false, 'ami-0000000000000000b'],
      [1, true, defaultLaunchTemplate.versions[0]?.imageId],
    ]);
  });
});

describe('EC2 emulator: instance state machine', () => {
  it('runs pending → running → stopping → stopped → pending → shutting-down → terminated, with events', async () => {
    const { emulator, client, events, run } = await setup({ timeScale: 0.001 });
    const [id = ''] = await run();
    await emulator.waitForState(id, 'running');
    const stop = await client.send(new StopInstancesCommand({ InstanceIds: [id] }));
    expect(stop.StoppingInstances?.[0]).toMatchObject({
      CurrentState: { Name: 'stopping', Code: 64 },
      PreviousState: { Name: 'running', Code: 16 },
    });
    await emulator.waitForState(id, 'stopped');
    const start = await client.send(new StartInstancesCommand({ InstanceIds: [id] }));
    expect(start.StartingInstances?.[0]?.PreviousState?.Name).toBe('stopped');
    await emulator.waitForState(id, 'running');
    await client.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    await emulator.waitForState(id, 'terminated');
    expect(events.map((e) => (e.kind === 'state-change' ? e.state : e.kind))).toEqual([
      'pending',
      'running',
      'stopping',
      'stopped',
      'pending',
      'running',
      'shutting-down',
      'terminated',
    ]);
  });

  it('starts a running instance as a no-op and refuses one that is stopping', async () => {
    const { emulator, client, run, fault } = await setup();
    const [id = ''] = await run();
    emulator.settle(id);
    const again = await client.send(new StartInstancesCommand({ InstanceIds: [id] }));
    expect(again.StartingInstances?.[0]?.PreviousState?.Name).toBe('running');
    await client.send(new StopInstancesCommand({ InstanceIds: [id] }));
    expect(await fault(client.send(new StartInstancesCommand({ InstanceIds: [id] })))).toMatchObject({
      code: 'IncorrectInstanceState',
      status: 400,
    });
  });

  it('keeps an instance that never boots in pending until told', async () => {
    const { emulator, run } = await setup({ timeScale: 0.001 });
    emulator.neverBoot({ instanceType: 'm6i.large' });
    const [stuck = ''] = await run({ InstanceType: 'm6i.large' });
    const [fine = ''] = await run();
    await emulator.waitForState(fine, 'running');
    expect(emulator.instance(stuck)).toMatchObject({ state: 'pending', stuckInPending: true });
    emulator.settle(stuck);
    expect(emulator.instance(stuck)?.state).toBe('running');
  });

  it('powers off from the guest: stop or terminate as the instance says', async () => {
    const { emulator, run } = await setup();
    const [stops = ''] = await run({ InstanceInitiatedShutdownBehavior: 'stop' });
    const [terminates = ''] = await run({ InstanceInitiatedShutdownBehavior: 'terminate' });
    for (const id of [stops, terminates]) {
      emulator.settle(id);
      emulator.guestPowerOff(id);
      emulator.settle(id);
    }
    expect(emulator.instance(stops)?.state).toBe('stopped');
    expect(emulator.instance(terminates)?.state).toBe('terminated');
  });

  it('interrupts a spot instance: warning first, then termination', async () => {
    const { emulator, client, events } = await setup({ timeScale: 0.001 });
    const fleet = await client.send(
      new CreateFleetCommand({
        Type: 'instant',
        TargetCapacitySpecification: { TotalTargetCapacity: 1, DefaultTargetCapacityType: 'spot' },
        LaunchTemplateConfigs: [
          {
            LaunchTemplateSpecification: { LaunchTemplateId: defaultLaunchTemplate.id, Version: '1' },
            Overrides: [{ InstanceType: 'm7i.large', SubnetId: subnetB }],
          },
        ],
      }),
    );
    const id = fleet.Instances?.[0]?.InstanceIds?.[0] ?? '';
    await emulator.waitForState(id, 'running');
    emulator.interruptSpot(id);
    await emulator.waitForState(id, 'terminated');
    const kinds = events
      .filter((e) => e.instanceId === id)
      .map((e) => (e.kind === 'state-change' ? e.state : e.kind));
    expect(kinds).toEqual(['pending', 'running', 'spot-interruption-warning', 'shutting-down', 'terminated']);
    expect(emulator.instance(id)?.shutdownBehavior).toBe('terminate');
  });

  it('forgets terminated instances after a while', async () => {
    let now = Date.UTC(2026, 0, 5, 9);
    const { emulator, client, run, fault } = await setup({ now: () => now });
    const [id = ''] = await run();
    await client.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    emulator.settle(id);
    now += 3_600_000;
    const seen = await client.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
    expect(seen.Reservations?.[0]?.Instances?.[0]?.State?.Name).toBe('terminated');
    now += 1;
    expect(await fault(client.send(new DescribeInstancesCommand({ InstanceIds: [id] })))).toMatchObject({
      code: 'InvalidInstanceID.NotFound',
    });
  });
});

describe('EC2 emulator: billing', () => {
  it('bills each run from running until stopping or shutting-down, a minute at least, nothing while stopped', async () => {
    let now = Date.UTC(2026, 0, 5, 9);
    const { emulator, client, run } = await setup({ now: () => now });
    const [id = ''] = await run();
    now += 5_000; // pending is not billed
    emulator.settle(id);
    now += 20_000;
    emulator.guestPowerOff(id); // stopping: not billed
    now += 4_000;
    emulator.settle(id);
    now += 3_600_000; // stopped: not billed
    await client.send(new StartInstancesCommand({ InstanceIds: [id] }));
    now += 5_000;
    emulator.settle(id);
    now += 300_000;
    await client.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    now += 10_000;
    emulator.settle(id);
    const [usage] = emulator.usage();
    expect(usage?.runs.map((r) => r.billedSeconds)).toEqual([60, 300]);
    expect(usage).toMatchObject({ instanceId: id, market: 'on-demand', billedSeconds: 360 });
  });
});

describe('EC2 emulator: faults', () => {
  it('refuses launches and starts without capacity with a 500 InsufficientInstanceCapacity', async () => {
    const { emulator, client, run, fault } = await setup();
    const [id = ''] = await run();
    emulator.settle(id);
    emulator.guestPowerOff(id);
    emulator.settle(id);
    emulator.exhaustCapacity({ instanceType: 'm7i.large', availabilityZone: 'us-east-1a' });
    expect(await fault(run())).toMatchObject({ code: 'InsufficientInstanceCapacity', status: 500 });
    expect(await fault(client.send(new StartInstancesCommand({ InstanceIds: [id] })))).toMatchObject({
      code: 'InsufficientInstanceCapacity',
      status: 500,
    });
    expect(await run({ SubnetId: subnetB })).toHaveLength(1);
    expect(emulator.instance(id)?.state).toBe('stopped');
  });

  it('lists each override without capacity in the fleet errors, and launches in the first with', async () => {
    const { emulator, client } = await setup();
    emulator.exhaustCapacity({ instanceType: 'm7i.large', market: 'spot' });
    const output = await client.send(
      new CreateFleetCommand({
        Type: 'instant',
        SpotOptions: { AllocationStrategy: 'capacity-optimized' },
        TargetCapacitySpecification: { TotalTargetCapacity: 1, DefaultTargetCapacityType: 'spot' },
        LaunchTemplateConfigs: [
          {
            LaunchTemplateSpecification: { LaunchTemplateId: defaultLaunchTemplate.id, Version: '$Latest' },
            Overrides: [
              { InstanceType: 'm7i.large', SubnetId: subnetA },
              { InstanceType: 'm7i.large', SubnetId: subnetB },
              { InstanceType: 'm6i.large', SubnetId: subnetA },
            ],
          },
        ],
      }),
    );
    expect(output.FleetId).toMatch(/^fleet-/);
    expect(
      output.Errors?.map((e) => [e.ErrorCode, e.LaunchTemplateAndOverrides?.Overrides?.SubnetId]),
    ).toEqual([
      ['InsufficientInstanceCapacity', subnetA],
      ['InsufficientInstanceCapacity', subnetB],
    ]);
    expect(output.Instances).toMatchObject([
      {
        Lifecycle: 'spot',
        InstanceType: 'm6i.large',
        LaunchTemplateAndOverrides: { Overrides: { InstanceType: 'm6i.large', SubnetId: subnetA } },
      },
    ]);
    expect(output.Instances?.[0]?.InstanceIds).toHaveLength(1);
  });

  it('throttles with RequestLimitExceeded (503) when a bucket is empty', async () => {
    const { emulator, client, run, fault } = await setup();
    emulator.configureBucket('DescribeInstances', { capacity: 2, refillPerSecond: 0 });
    await client.send(new DescribeInstancesCommand({}));
    await client.send(new DescribeInstancesCommand({}));
    expect(await fault(client.send(new DescribeInstancesCommand({})))).toMatchObject({
      code: 'RequestLimitExceeded',
      status: 503,
    });
    // Resource tokens count instances: 3 left launches 3 of 5, then nothing.
    emulator.configureBucket('resource:RunInstances', { capacity: 3, refillPerSecond: 0 });
    expect(await run({ MinCount: 1, MaxCount: 5 })).toHaveLength(3);
    expect(await fault(run())).toMatchObject({ code: 'RequestLimitExceeded' });
  });

  it('honours client tokens: same request same instances, other parameters a mismatch', async () => {
    const { emulator, run, fault } = await setup();
    const first = await run({ ClientToken: 'tok-1', MaxCount: 2 });
    expect(await run({ ClientToken: 'tok-1', MaxCount: 2 })).toEqual(first);
    expect(await fault(run({ ClientToken: 'tok-1', MaxCount: 2, InstanceType: 'm6i.large' }))).toMatchObject({
      code: 'IdempotentParameterMismatch',
      status: 400,
    });
    expect(emulator.instances()).toHaveLength(2);
  });

  it('refuses to stop a one-time spot instance', async () => {
    const { client, run, fault } = await setup();
    const [id = ''] = await run({
      InstanceMarketOptions: { MarketType: 'spot' },
      InstanceInitiatedShutdownBehavior: 'terminate',
    });
    expect(await fault(client.send(new StopInstancesCommand({ InstanceIds: [id] })))).toMatchObject({
      code: 'UnsupportedOperation',
    });
  });
});

describe('EC2 emulator: images', () => {
  const x86Image = 'ami-0aaaaaaaaaaaaaaa1';
  const armImage = 'ami-0bbbbbbbbbbbbbbb2';
  const fleetOf = (overrides: { InstanceType: string; SubnetId: string; ImageId?: string }[]) =>
    new CreateFleetCommand({
      Type: 'instant',
      TargetCapacitySpecification: { TotalTargetCapacity: 1, DefaultTargetCapacityType: 'spot' },
      LaunchTemplateConfigs: [
        {
          LaunchTemplateSpecification: { LaunchTemplateId: defaultLaunchTemplate.id, Version: '1' },
          Overrides: overrides.map((o) => ({ ...o, InstanceType: o.InstanceType as 'm7g.large' })),
        },
      ],
    });

  it("launches RunInstances' ImageId instead of the template's, and reports and filters by it", async () => {
    const { emulator, client, run } = await setup();
    const [fromTemplate = ''] = await run();
    const [overridden = ''] = await run({ ImageId: armImage, InstanceType: 'm7g.large' });
    expect(emulator.instance(fromTemplate)?.imageId).toBe(defaultLaunchTemplate.versions[0]?.imageId);
    expect(emulator.instance(overridden)).toMatchObject({
      imageId: armImage,
      launchTemplate: { id: defaultLaunchTemplate.id, version: 1 },
    });
    const described = await client.send(new DescribeInstancesCommand({ InstanceIds: [overridden] }));
    expect(described.Reservations?.[0]?.Instances?.[0]).toMatchObject({
      ImageId: armImage,
      Architecture: 'arm64',
    });
    const filtered = await client.send(
      new DescribeInstancesCommand({ Filters: [{ Name: 'image-id', Values: [armImage] }] }),
    );
    expect(filtered.Reservations?.flatMap((r) => r.Instances?.map((i) => i.InstanceId))).toEqual([
      overridden,
    ]);
  });

  it("launches a fleet override's ImageId and echoes it in the answer", async () => {
    const { emulator, client } = await setup();
    const output = await client.send(
      fleetOf([{ InstanceType: 'm7g.large', SubnetId: subnetA, ImageId: armImage }]),
    );
    const [group] = output.Instances ?? [];
    expect(group?.LaunchTemplateAndOverrides?.Overrides?.ImageId).toBe(armImage);
    expect(emulator.instance(group?.InstanceIds?.[0] ?? '')?.imageId).toBe(armImage);
  });

  it('refuses a malformed image id in RunInstances and in a fleet, launching nothing', async () => {
    const { emulator, client, run, fault } = await setup();
    for (const ImageId of ['ami-123', 'ami-0123456789ABCDEF0', 'image-0123456789abcdef0'])
      expect(await fault(run({ ImageId })), ImageId).toMatchObject({
        code: 'InvalidAMIID.Malformed',
        status: 400,
        message: `Invalid id: "${ImageId}" (expecting "ami-...")`,
      });
    expect(
      await fault(
        client.send(
          fleetOf([
            { InstanceType: 'm7i.large', SubnetId: subnetA },
            { InstanceType: 'm7i.large', SubnetId: subnetB, ImageId: 'ami-12' },
          ]),
        ),
      ),
    ).toMatchObject({ code: 'InvalidAMIID.Malformed' });
    // EC2 would resolve the parameter; the emulator says plainly that it does not.
    expect(await fault(run({ ImageId: 'resolve:ssm:/wpr/ami/x64' }))).toMatchObject({
      code: 'InvalidParameterValue',
    });
    expect(emulator.instances()).toHaveLength(0);
  });

  it('refuses a registered image on an instance type of the other architecture', async () => {
    const { emulator, client, run, fault } = await setup({ images: { [x86Image]: 'x86_64' } });
    emulator.registerImage(armImage, 'arm64');
    expect(await fault(run({ ImageId: armImage, InstanceType: 'm7i.large' }))).toMatchObject({
      code: 'InvalidParameterValue',
      message: expect.stringContaining(
        "The architecture 'x86_64' of the specified instance type does not match the architecture 'arm64'",
      ),
    });
    expect(await fault(run({ ImageId: x86Image, InstanceType: 'c7gn.large' }))).toMatchObject({
      code: 'InvalidParameterValue',
    });
    expect(await run({ ImageId: armImage, InstanceType: 't4g.small' })).toHaveLength(1);
    expect(await run({ ImageId: x86Image, InstanceType: 'm7i.large' })).toHaveLength(1);
    // A fleet lists the mismatched override among its errors and launches the next one.
    const output = await client.send(
      fleetOf([
        { InstanceType: 'm7i.large', SubnetId: subnetA, ImageId: armImage },
        { InstanceType: 'm7g.large', SubnetId: subnetA, ImageId: armImage },
      ]),
    );
    expect(
      output.Errors?.map((e) => [e.ErrorCode, e.LaunchTemplateAndOverrides?.Overrides?.InstanceType]),
    ).toEqual([['InvalidParameterValue', 'm7i.large']]);
    expect(output.Instances?.[0]?.InstanceType).toBe('m7g.large');
  });
});

describe('EC2 emulator: DescribeInstances', () => {
  it('filters by tag, tag key, state and id, with wildcards, and pages with NextToken', async () => {
    const { emulator, client, run } = await setup();
    const tagged = await run({
      MaxCount: 7,
      TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'wpr:project', Value: 'alpha' }] }],
    });
    await run({ TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'other', Value: 'x' }] }] });
    for (const id of tagged.slice(0, 2)) emulator.settle(id);

    const describe = async (filters: { Name: string; Values: string[] }[]) => {
      const found: string[] = [];
      let NextToken: string | undefined;
      let pages = 0;
      do {
        const page = await client.send(
          new DescribeInstancesCommand({ Filters: filters, MaxResults: 5, NextToken }),
        );
        pages += 1;
        for (const r of page.Reservations ?? [])
          for (const i of r.Instances ?? []) found.push(i.InstanceId ?? '');
        NextToken = page.NextToken;
      } while (NextToken !== undefined);
      return { found, pages };
    };
    expect(await describe([{ Name: 'tag:wpr:project', Values: ['alpha'] }])).toEqual({
      found: tagged,
      pages: 2,
    });
    expect((await describe([{ Name: 'tag-key', Values: ['wpr:*'] }])).found).toEqual(tagged);
    expect(
      (
        await describe([
          { Name: 'tag:wpr:project', Values: ['alpha'] },
          { Name: 'instance-state-name', Values: ['running'] },
        ])
      ).found,
    ).toEqual(tagged.slice(0, 2));
    expect((await describe([{ Name: 'instance-id', Values: [tagged[3] ?? ''] }])).found).toEqual([tagged[3]]);
  });
});

describe('EC2 emulator: tag changes', () => {
  it('publishes a tag change for CreateTags that changes a tag, none when nothing changes', async () => {
    const { client, run, events } = await setup();
    const [id] = await run();
    events.length = 0;
    const tag = (value: string) =>
      client.send(
        new CreateTagsCommand({ Resources: [id ?? ''], Tags: [{ Key: 'wpr:job-started', Value: value }] }),
      );
    await tag('2026-01-05T09:30:12Z');
    await tag('2026-01-05T09:30:12Z'); // the same value: no change, no event
    const changes = events.filter((e) => e.kind === 'tag-change');
    expect(changes).toHaveLength(1);
    expect(changes[0]).toMatchObject({
      instanceId: id,
      changedKeys: ['wpr:job-started'],
      tags: { 'wpr:job-started': '2026-01-05T09:30:12Z' },
      version: 1,
    });
    const missing = await client
      .send(new CreateTagsCommand({ Resources: ['i-0000000000000dead'], Tags: [{ Key: 'k', Value: 'v' }] }))
      .catch((e: EC2ServiceException) => e.name);
    expect(missing).toBe('InvalidInstanceID.NotFound');
  });
});

describe('toEventBridgeEvent', () => {
  it('builds the tag-change event as the tagging service delivers it (source aws.tag)', () => {
    const at = Date.UTC(2026, 0, 5, 9, 30, 12, 345);
    expect(
      toEventBridgeEvent({
        kind: 'tag-change',
        instanceId: 'i-0abc',
        changedKeys: ['wpr:job-started'],
        tags: { 'wpr:job-started': '2026-01-05T09:30:12Z', 'wpr:project': 'wpr' },
        version: 3,
        at,
      }),
    ).toEqual({
      version: '0',
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      'detail-type': 'Tag Change on Resource',
      source: 'aws.tag',
      account: '123456789012',
      time: '2026-01-05T09:30:12Z',
      region: 'us-east-1',
      resources: ['arn:aws:ec2:us-east-1:123456789012:instance/i-0abc'],
      detail: {
        'changed-tag-keys': ['wpr:job-started'],
        service: 'ec2',
        'resource-type': 'instance',
        version: 3,
        tags: { 'wpr:job-started': '2026-01-05T09:30:12Z', 'wpr:project': 'wpr' },
      },
    });
  });

  it('builds the state-change and spot-warning events as EventBridge delivers them', () => {
    const at = Date.UTC(2026, 0, 5, 9, 30, 12, 345);
    expect(
      toEventBridgeEvent({
        kind: 'state-change',
        instanceId: 'i-0abc',
        state: 'stopped',
        previousState: 'stopping',
        at,
      }),
    ).toEqual({
      version: '0',
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      'detail-type': 'EC2 Instance State-change Notification',
      source: 'aws.ec2',
      account: '123456789012',
      time: '2026-01-05T09:30:12Z',
      region: 'us-east-1',
      resources: ['arn:aws:ec2:us-east-1:123456789012:instance/i-0abc'],
      detail: { 'instance-id': 'i-0abc', state: 'stopped' },
    });
    expect(
      toEventBridgeEvent(
        { kind: 'spot-interruption-warning', instanceId: 'i-0abc', at },
        { region: 'eu-west-1' },
      ),
    ).toMatchObject({
      'detail-type': 'EC2 Spot Instance Interruption Warning',
      region: 'eu-west-1',
      resources: ['arn:aws:ec2:eu-west-1:123456789012:instance/i-0abc'],
      detail: { 'instance-id': 'i-0abc', 'instance-action': 'terminate' },
    });
  });
});
