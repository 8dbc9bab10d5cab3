-- Argo CD health check for apps.sidecarset.io/SidecarSet. Install it under resource.customizations in the
-- argocd-cm ConfigMap (docs/gitops.md). It reads the conditions the operator writes, which follow kstatus:
--   Healthy      Ready is True: every selected pod runs the latest revision, or the rest are held back on
--                purpose by a partition or an update selector.
--   Suspended    the rollout is paused (updateStrategy.paused) with pods left to update.
--   Degraded     Stalled is True: the failure policy paused or rolled back the rollout, no progress for
--                progressDeadlineSeconds, a pinned revision that does not exist, or pods the rollout cannot
--                bring to the latest revision (NotUpgradable, MissingSidecar, Conflict, InjectionSkipped).
--   Progressing  the operator has not observed the latest spec yet, or the rollout is under way.
local hs = {}
local generation = 0
if obj.metadata ~= nil and obj.metadata.generation ~= nil then
  generation = obj.metadata.generation
end
if obj.status == nil or obj.status.observedGeneration == nil or obj.status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. generation
  return hs
end

local conditions = {}
if obj.status.conditions ~= nil then
  for _, c in ipairs(obj.status.conditions) do
    conditions[c.type] = c
  end
end

local stalled = conditions["Stalled"]
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = stalled.reason .. ": " .. (stalled.message or "")
  return hs
end

local ready = conditions["Ready"]
if ready ~= nil and ready.status == "True" then
  if ready.reason == "Paused" then
    hs.status = "Suspended"
  else
    hs.status = "Healthy"
  end
  hs.message = ready.message or ""
  return hs
end

hs.status = "Progressing"
if ready ~= nil then
  hs.message = ready.message or ready.reason
else
  hs.message = "Waiting for the operator to report status"
end
return hs
