/**
 * Which cluster (if any) this daemon belongs to, from --id/--config or the old tools' SID/IDS.
 * No --config and no IDS: a single node, exactly as before.
 */
import type { Fabric, FabricOptions } from '../../binding/fabric';
import { ClusterConfig, configFromIds, FabricKind, loadConfigFile, NodeEntry, resolveSelf, restrictToIds } from '../cluster-config';

export interface ClusterNode {
  config: ClusterConfig;
  self: NodeEntry;
}

export function clusterNodeFromArgs(
  args: { id?: number; config?: string; fabric: FabricKind },
  env: NodeJS.ProcessEnv,
): ClusterNode | undefined {
  if (args.config === undefined && (env.IDS === undefined || env.IDS === '')) {
    if (args.id !== undefined) throw new Error('--id needs a cluster: pass --config FILE (or set IDS=1,2,3 for a local group)');
    return undefined;
  }
  const config = args.config !== undefined ? restrictToIds(loadConfigFile(args.config), env.IDS) : configFromIds(env.IDS!, args.fabric, env.MU_SECRET);
  return { config, self: resolveSelf(config, args.id, env) };
}

/** The native fabric, loaded only in cluster mode so a single node never needs the addon. */
export function loadOpenFabric(): (o: FabricOptions) => Fabric {
  try {
    return (require('../../binding/index') as { openFabric: (o: FabricOptions) => Fabric }).openFabric;
  } catch (err) {
    throw new Error(`cluster mode needs the native fabric addon (npm run build:native): ${(err as Error).message}`);
  }
}
