/**
 * Who a deployment serves, from its settings: the (installation, owner) pairs whose webhooks it acts on
 * and, per owner, where runners register and under which names.
 *
 * - Several Apps (GITHUB_APPS): every configured installation, each for its owner. An owner's *home*
 *   installation is the first one configured for it, whichever App lists it; its id is in every runner
 *   name of that owner (`<RUNNER_NAME_PREFIX>-<home installation>-<instance id>`), whichever App mints,
 *   so the name does not change when minting moves to another App.
 * - One App (GITHUB_APP_SECRET_ARN): its installation, read from the App secret, for GITHUB_ORG in
 *   organization scope, or for any account it is installed on in repository scope.
 */
import type { OwnerRunners, RunnerSettings } from '../scheduler/core/deps.js';
import type { GitHubAppSettings, HandlerSettings } from './settings.js';

export interface ServedInstallation {
  readonly id: number;
  /** Absent: any owner (a single App in repository scope serves every account it is installed on). */
  readonly owner?: string;
}

export interface DeploymentOwners {
  readonly installations: readonly ServedInstallation[];
  readonly runners: RunnerSettings;
}

type RunnerNaming = Pick<HandlerSettings, 'RUNNER_NAME_PREFIX' | 'RUNNER_GROUP'>;

export function multiAppOwners(settings: RunnerNaming, apps: readonly GitHubAppSettings[]): DeploymentOwners {
  const installations = apps.flatMap((app) => app.installations);
  const owners: OwnerRunners[] = [];
  for (const installation of installations)
    if (!owners.some((o) => o.owner.toLowerCase() === installation.owner.toLowerCase()))
      owners.push({
        owner: installation.owner,
        scope: installation.runners,
        namePrefix: `${settings.RUNNER_NAME_PREFIX}-${installation.id}`,
      });
  return {
    installations: installations.map(({ id, owner }) => ({ id, owner })),
    runners: {
      owners,
      ...(settings.RUNNER_GROUP !== undefined && { runnerGroup: settings.RUNNER_GROUP }),
    },
  };
}

export function singleAppOwners(
  settings: RunnerNaming & Pick<HandlerSettings, 'RUNNER_SCOPE' | 'GITHUB_ORG'>,
  installationId: number,
): DeploymentOwners {
  const namePrefix = `${settings.RUNNER_NAME_PREFIX}-${installationId}`;
  const group = settings.RUNNER_GROUP !== undefined && { runnerGroup: settings.RUNNER_GROUP };
  if (settings.RUNNER_SCOPE === 'org' && settings.GITHUB_ORG !== undefined)
    return {
      installations: [{ id: installationId, owner: settings.GITHUB_ORG }],
      runners: { owners: [{ owner: settings.GITHUB_ORG, scope: 'org', namePrefix }], ...group },
    };
  // Repository scope: any account the installation covers (GITHUB_ORG plays no part, as before).
  return {
    installations: [{ id: installationId }],
    runners: { owners: [], anyOwner: { scope: 'repo', namePrefix }, ...group },
  };
}

/**
 * Why a delivery from this installation for this owner is not this deployment's, or undefined when it
 * is: the pair must be configured, so a signed delivery from another installation of one of our Apps,
 * or for an owner that installation does not serve, is never acted on.
 */
export function refusal(
  owners: DeploymentOwners,
  installationId: number | undefined,
  owner: string,
): string | undefined {
  if (installationId === undefined) return 'delivery names no installation';
  const served = owners.installations.filter((i) => i.id === installationId);
  if (served.length === 0) return `installation ${installationId} is not this deployment's`;
  if (served.some((i) => i.owner === undefined || i.owner.toLowerCase() === owner.toLowerCase()))
    return undefined;
  return `owner ${owner} is not served by installation ${installationId}`;
}
