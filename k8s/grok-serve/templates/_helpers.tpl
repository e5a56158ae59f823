{{/*
Names. KubeRay derives RayCluster names from the RayService's and allows it 47 characters.
*/}}
{{- define "grok-serve.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 47 | trimSuffix "-" -}}
{{- end -}}

{{- define "grok-serve.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 47 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 47 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 47 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* KubeRay's Serve Service for a RayService: the pods whose Serve proxy is healthy. */}}
{{- define "grok-serve.serveServiceName" -}}
{{- printf "%s-serve-svc" (include "grok-serve.fullname" .) -}}
{{- end -}}

{{- define "grok-serve.selectorLabels" -}}
app.kubernetes.io/name: {{ include "grok-serve.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "grok-serve.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "grok-serve.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "grok-serve.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "grok-serve.servePort" -}}
{{- .Values.grok.serveConfig.http_options.port | int -}}
{{- end -}}

{{/*
Everything the chart sizes by, read from grok.serveConfig (the Serve config rendered from
deployments/spec.py) and nowhere else, as JSON (use with fromJson): the accelerator type, worker
pod bounds (the pods one replica's GPUs fill times Serve's replica bounds, summed over the
models), the model directories, and the longest request.
A config the worker pods could not hold fails here, with what to change.
*/}}
{{- define "grok-serve.derived" -}}
{{- $perPod := int .Values.grok.gpusPerWorker -}}
{{- $accelerators := list -}}
{{- $sources := list -}}
{{- $min := 0 -}}
{{- $max := 0 -}}
{{- $initial := 0 -}}
{{- range $app := .Values.grok.serveConfig.applications -}}
{{- range $llm := (($app.args | default dict).llm_configs | default list) -}}
{{- $id := $llm.model_loading_config.model_id -}}
{{- if not $llm.accelerator_type -}}
{{- fail (printf "grok.serveConfig: model %s has no accelerator_type: the chart serves GPU deployments (worker pods advertise accelerator_type:<type>)" $id) -}}
{{- end -}}
{{- $accelerators = append $accelerators $llm.accelerator_type | uniq -}}
{{- $sources = append $sources $llm.model_loading_config.model_source | uniq -}}
{{- $placement := $llm.placement_group_config | default dict -}}
{{- $gpus := 0 -}}
{{- range $bundle := ($placement.bundles | default list) -}}
{{- $gpus = add $gpus (int (get $bundle "GPU" | default 0)) -}}
{{- end -}}
{{- $engine := $llm.engine_kwargs | default dict -}}
{{- $tp := int ($engine.tensor_parallel_size | default 1) -}}
{{- $pp := int ($engine.pipeline_parallel_size | default 1) -}}
{{- if ne $gpus (mul $tp $pp) -}}
{{- fail (printf "grok.serveConfig: model %s has TP=%d x PP=%d but its placement bundles hold %d GPUs: one bundle of one GPU per engine worker (python -m deployments.helm_values writes them)" $id $tp $pp $gpus) -}}
{{- end -}}
{{- if and (eq ($placement.strategy | default "PACK") "STRICT_PACK") (gt $gpus $perPod) -}}
{{- fail (printf "grok.serveConfig: model %s packs %d GPUs STRICT_PACK onto one node, but grok.gpusPerWorker is %d" $id $gpus $perPod) -}}
{{- end -}}
{{- if and (gt $gpus $perPod) (or (mod $gpus $perPod) (mod $perPod $tp)) -}}
{{- fail (printf "grok.serveConfig: a replica of model %s (%d GPUs) spans worker pods of %d GPUs: it must fill whole pods, with whole tensor-parallel groups (TP=%d) in each" $id $gpus $perPod $tp) -}}
{{- end -}}
{{- $pods := div (add $gpus $perPod -1) $perPod -}}
{{- $deployment := $llm.deployment_config | default dict -}}
{{- with $deployment.autoscaling_config -}}
{{- $min = add $min (mul $pods (int .min_replicas)) -}}
{{- $max = add $max (mul $pods (int .max_replicas)) -}}
{{- $initial = add $initial (mul $pods (int (.initial_replicas | default .min_replicas))) -}}
{{- else -}}
{{- $replicas := int ($deployment.num_replicas | default 1) -}}
{{- $min = add $min (mul $pods $replicas) -}}
{{- $max = add $max (mul $pods $replicas) -}}
{{- $initial = add $initial (mul $pods $replicas) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if ne (len $accelerators) 1 -}}
{{- fail (printf "grok.serveConfig: the chart's one GPU worker group needs exactly one accelerator_type among the models, found %v" $accelerators) -}}
{{- end -}}
{{- $mount := trimSuffix "/" .Values.model.mountPath -}}
{{- range $sources -}}
{{- if not (hasPrefix (printf "%s/" $mount) .) -}}
{{- fail (printf "grok.serveConfig: model_source %s is not under model.mountPath (%s), where the model volume is mounted" . $mount) -}}
{{- end -}}
{{- end -}}
{{- $timeout := .Values.grok.serveConfig.http_options.request_timeout_s -}}
{{- dict "acceleratorType" (first $accelerators) "minWorkers" $min "maxWorkers" $max "initialWorkers" $initial "modelSources" $sources "requestTimeoutSeconds" (int (ceil (float64 ($timeout | default 0)))) | toJson -}}
{{- end -}}

{{/*
rayClusterDeletionDelaySeconds: how long KubeRay keeps the old RayCluster after traffic moved
to the new one. Requests in flight on the old cluster run to the end only if it outlives the
longest request, so it is at least the Serve config's request_timeout_s (the default).
*/}}
{{- define "grok-serve.clusterDeletionDelaySeconds" -}}
{{- $timeout := (include "grok-serve.derived" . | fromJson).requestTimeoutSeconds | int -}}
{{- $delay := .Values.rayService.clusterDeletionDelaySeconds -}}
{{- if kindIs "invalid" $delay -}}
{{- if not $timeout -}}
{{- fail "grok.serveConfig sets no http_options.request_timeout_s, so requests are unbounded: set rayService.clusterDeletionDelaySeconds to how long the old cluster must serve after an upgrade" -}}
{{- end -}}
{{- $timeout -}}
{{- else if lt (int $delay) $timeout -}}
{{- fail (printf "rayService.clusterDeletionDelaySeconds (%d) is below the Serve config's request_timeout_s (%d): requests still streaming from the old cluster would be cut when it is deleted" (int $delay) $timeout) -}}
{{- else -}}
{{- int $delay -}}
{{- end -}}
{{- end -}}

{{/*
Environment of one group's Ray container: the Serve data-path switches the spec chose (Ray reads
them when it starts), the API key only by reference to its Secret, then the shared env, then the
group's own. Called with (dict "root" $ "group" .Values.head|workers).
*/}}
{{- define "grok-serve.env" -}}
{{- $root := .root -}}
{{- range $name, $value := $root.Values.grok.serveEnv }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- if $root.Values.apiKey.secretName }}
- name: GROK_SERVE_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $root.Values.apiKey.secretName }}
      key: {{ $root.Values.apiKey.secretKey }}
{{- end }}
{{- with $root.Values.env }}
{{ toYaml . }}
{{- end }}
{{- with .group.env }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* A group's pod labels: the operator's, then ours (which selectors rely on) over them. */}}
{{- define "grok-serve.podLabels" -}}
{{- $ours := include "grok-serve.selectorLabels" .root | fromYaml -}}
{{- $_ := set $ours "app.kubernetes.io/component" .component -}}
{{- toYaml (merge $ours (deepCopy (.group.labels | default dict))) -}}
{{- end -}}

{{/*
The pod-level fields operators pass through, the same for head and workers, each only when set
(KubeRay chart style). Called with (dict "root" $ "group" .Values.head|workers).
*/}}
{{- define "grok-serve.podFields" -}}
{{- $group := .group -}}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $group.serviceAccountName }}
serviceAccountName: {{ . }}
{{- end }}
{{- with $group.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- if not (kindIs "invalid" $group.terminationGracePeriodSeconds) }}
terminationGracePeriodSeconds: {{ int $group.terminationGracePeriodSeconds }}
{{- end }}
{{- with $group.podSecurityContext }}
securityContext:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $group.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $group.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $group.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* The container-level fields operators pass through to a group's Ray container. */}}
{{- define "grok-serve.containerFields" -}}
{{- with include "grok-serve.env" . | trim }}
env:
  {{- . | nindent 2 }}
{{- end }}
{{- with .group.envFrom }}
envFrom:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .group.securityContext }}
securityContext:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "grok-serve.shmVolume" -}}
- name: dshm
  emptyDir:
    medium: Memory
    sizeLimit: {{ . }}
{{- end -}}

{{/* Settings that would only fail later, on the cluster, fail the render instead. */}}
{{- define "grok-serve.validate" -}}
{{- if and (empty .Values.model.claimName) (empty .Values.model.hostPath) -}}
{{- fail "set model.claimName (a PVC) or model.hostPath: where the converted checkpoint is" -}}
{{- end -}}
{{- $_ := include "grok-serve.derived" . -}}
{{- $_ = include "grok-serve.clusterDeletionDelaySeconds" . -}}
{{- $upgrade := .Values.rayService.upgradeStrategy -}}
{{- if eq $upgrade.type "NewClusterWithIncrementalUpgrade" -}}
{{- $options := $upgrade.clusterUpgradeOptions -}}
{{- if gt (int $options.stepSizePercent) (int ($options.maxSurgePercent | default 100)) -}}
{{- fail "rayService.upgradeStrategy.clusterUpgradeOptions: stepSizePercent must not exceed maxSurgePercent (KubeRay rejects it)" -}}
{{- end -}}
{{- end -}}
{{- $names := list "ray-head" "ray-worker" -}}
{{- range $group := list .Values.head .Values.workers -}}
{{- range $group.sidecarContainers -}}
{{- if has .name $names -}}
{{- fail (printf "sidecar container name %s is the chart's Ray container's" .name) -}}
{{- end -}}
{{- end -}}
{{- range $group.volumes -}}
{{- if has .name (list "dshm" "model") -}}
{{- fail (printf "volume name %s is the chart's own (dshm, model)" .name) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The model volume's source (a PVC, or a host directory). Called with (dict "model" .Values.model "readOnly" bool). */}}
{{- define "grok-serve.modelVolume" -}}
{{- if .model.hostPath -}}
hostPath:
  path: {{ .model.hostPath }}
  type: {{ ternary "Directory" "DirectoryOrCreate" .readOnly }}
{{- else -}}
persistentVolumeClaim:
  claimName: {{ .model.claimName }}
  readOnly: {{ .readOnly }}
{{- end -}}
{{- end -}}

{{/*
The wait-for-weights init container's script: `grok-ckpt inspect` exits 0 once a converted
directory is complete (the converter writes config.json last and removes its progress file
after verifying), so a worker never starts vLLM on a partial checkpoint. Called with the
derived dict.
*/}}
{{- define "grok-serve.waitForWeights" -}}
{{- range .modelSources -}}
until grok-ckpt inspect {{ . }} > /dev/null 2>&1; do echo "waiting for the weights Job to complete {{ . }}"; sleep 30; done; echo "{{ . }} is complete";
{{- end -}}
{{- end -}}
