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

{{/* Where the worker pods see the converted checkpoint: the Serve config's model_source. */}}
{{- define "grok-serve.modelPath" -}}
{{- printf "%s/%s" (trimSuffix "/" .Values.model.mountPath) .Values.model.checkpointDir -}}
{{- end -}}

{{- define "grok-serve.servePort" -}}
{{- .Values.grok.serveConfig.http_options.port | int -}}
{{- end -}}

{{/* One GPU per engine worker: tensor x pipeline parallel GPUs per Serve replica. */}}
{{- define "grok-serve.gpusPerReplica" -}}
{{- mul (int .Values.grok.tensorParallel) (int .Values.grok.pipelineParallel) -}}
{{- end -}}

{{- define "grok-serve.podsPerReplica" -}}
{{- $gpus := include "grok-serve.gpusPerReplica" . | int -}}
{{- $perPod := int .Values.grok.gpusPerWorker -}}
{{- div (add $gpus $perPod -1) $perPod -}}
{{- end -}}

{{/* Worker pod bounds: explicit values, else enough pods for Serve's replica bounds. */}}
{{- define "grok-serve.workerMinReplicas" -}}
{{- $pods := include "grok-serve.podsPerReplica" . | int -}}
{{- if kindIs "invalid" .Values.workers.minReplicas -}}
{{- mul $pods (int .Values.grok.autoscaling.minReplicas) -}}
{{- else -}}
{{- int .Values.workers.minReplicas -}}
{{- end -}}
{{- end -}}

{{- define "grok-serve.workerMaxReplicas" -}}
{{- $pods := include "grok-serve.podsPerReplica" . | int -}}
{{- if kindIs "invalid" .Values.workers.maxReplicas -}}
{{- mul $pods (int .Values.grok.autoscaling.maxReplicas) -}}
{{- else -}}
{{- int .Values.workers.maxReplicas -}}
{{- end -}}
{{- end -}}

{{/*
The Serve config (serveConfigV2): grok.serveConfig, rendered from deployments/spec.py, with the
chart's knobs applied: the model mount, accelerator type, TP/PP (one bundle per GPU, packed into
one node when a replica fits one, else spread over nodes), replica autoscaling, health checks.
*/}}
{{- define "grok-serve.serveConfig" -}}
{{- $g := .Values.grok -}}
{{- $config := deepCopy $g.serveConfig -}}
{{- $gpus := include "grok-serve.gpusPerReplica" . | int -}}
{{- $strategy := ternary "STRICT_PACK" "PACK" (le $gpus (int $g.gpusPerWorker)) -}}
{{- $modelPath := include "grok-serve.modelPath" . -}}
{{- range $app := $config.applications -}}
{{- range $llm := $app.args.llm_configs -}}
{{- $_ := set $llm.model_loading_config "model_source" $modelPath -}}
{{- $_ = set $llm "accelerator_type" $g.acceleratorType -}}
{{- $_ = set $llm.engine_kwargs "tensor_parallel_size" (int $g.tensorParallel) -}}
{{- $_ = set $llm.engine_kwargs "pipeline_parallel_size" (int $g.pipelineParallel) -}}
{{- $bundle := first $llm.placement_group_config.bundles -}}
{{- $bundles := list -}}
{{- range until $gpus -}}
{{- $bundles = append $bundles $bundle -}}
{{- end -}}
{{- $_ = set $llm "placement_group_config" (dict "bundles" $bundles "strategy" $strategy) -}}
{{- $deployment := $llm.deployment_config -}}
{{- $scaling := $deployment.autoscaling_config -}}
{{- $_ = set $scaling "min_replicas" (int $g.autoscaling.minReplicas) -}}
{{- $_ = set $scaling "max_replicas" (int $g.autoscaling.maxReplicas) -}}
{{- $_ = set $scaling "initial_replicas" (int $g.autoscaling.initialReplicas) -}}
{{- $_ = set $scaling "target_ongoing_requests" $g.autoscaling.targetOngoingRequests -}}
{{- $_ = set $deployment "health_check_period_s" $g.healthCheck.periodSeconds -}}
{{- $_ = set $deployment "health_check_timeout_s" $g.healthCheck.timeoutSeconds -}}
{{- end -}}
{{- end -}}
{{- toYaml $config -}}
{{- end -}}

{{/* Environment of every Ray container: the API key only by reference to its Secret. */}}
{{- define "grok-serve.env" -}}
{{- if .Values.apiKey.secretName }}
- name: GROK_SERVE_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.apiKey.secretName }}
      key: {{ .Values.apiKey.secretKey }}
{{- end }}
{{- with .Values.env }}
{{ toYaml . }}
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
{{- $g := .Values.grok -}}
{{- if and (empty .Values.model.claimName) (empty .Values.model.hostPath) -}}
{{- fail "set model.claimName (a PVC) or model.hostPath: where the converted checkpoint is" -}}
{{- end -}}
{{- $gpus := include "grok-serve.gpusPerReplica" . | int -}}
{{- $perPod := int $g.gpusPerWorker -}}
{{- $tp := int $g.tensorParallel -}}
{{- if and (gt $gpus $perPod) (or (mod $gpus $perPod) (mod $perPod $tp)) -}}
{{- fail (printf "a replica of %d GPUs spans worker pods of %d GPUs: it must fill whole pods, with whole tensor-parallel groups (TP=%d) in each" $gpus $perPod $tp) -}}
{{- end -}}
{{- $scaling := $g.autoscaling -}}
{{- if not (and (le (int $scaling.minReplicas) (int $scaling.initialReplicas)) (le (int $scaling.initialReplicas) (int $scaling.maxReplicas))) -}}
{{- fail "grok.autoscaling: need minReplicas <= initialReplicas <= maxReplicas" -}}
{{- end -}}
{{- $pods := include "grok-serve.podsPerReplica" . | int -}}
{{- $min := include "grok-serve.workerMinReplicas" . | int -}}
{{- $max := include "grok-serve.workerMaxReplicas" . | int -}}
{{- if or (gt $min $max) (lt $max $pods) -}}
{{- fail (printf "workers: need minReplicas (%d) <= maxReplicas (%d), and maxReplicas >= the %d pod(s) one Serve replica needs" $min $max $pods) -}}
{{- end -}}
{{- end -}}
