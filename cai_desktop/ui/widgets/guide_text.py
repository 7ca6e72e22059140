"""The text of Help → Guide: the workflow, the method in the paper's words, what the embedded
model can and cannot do, and how runs resume. Kept apart from the dialog so it is easy to edit
(plain HTML for a ``QTextBrowser``; no Qt here)."""

from __future__ import annotations

#: the workflow's stages, in order (the guide lists them; a test checks they are all named)
STAGES = (
    "Constitution",
    "Critique & revision",
    "Review in the inspector",
    "SFT",
    "Response pairs",
    "AI labels",
    "Preference model",
    "RLOO / PPO / DPO",
    "Before/after evaluation",
)

GUIDE_HTML = """
<style>dt { margin-top: 6px; } li { margin-bottom: 3px; }</style>
<h2>CAI Desktop guide</h2>
<p>CAI Desktop follows Constitutional AI (Bai et al. 2022, <i>Constitutional AI: Harmlessness from
AI Feedback</i>): a model learns to be harmless from a short list of principles written in plain
language, instead of from thousands of human harm labels. There are two stages: SL-CAI (supervised
learning on the model's own revised answers) and RL-CAI (reinforcement learning from AI feedback).</p>

<h3>The workflow</h3>
<ol>
<li><b>Constitution</b> (Constitution page). Write principles. Each has a <i>critique request</i>
(what to look for in an answer), a <i>revision request</i> (how to rewrite it) and a comparison
question (which of two answers is better).</li>
<li><b>Critique &amp; revision</b> (Runs → Critique &amp; revision). For each red-team prompt the
model answers, then, round after round, a principle is drawn at random; the model critiques its
last answer under it and revises the answer.</li>
<li><b>Review in the inspector</b> (Inspector page). Read the original answer and each revision
side by side; accept, reject or edit. Training can use only the chains you accepted.</li>
<li><b>SFT</b> (Runs → SFT). LoRA fine-tuning on the revisions, mixed with helpful answers so the
model stays helpful. The result is the SL-CAI adapter: the end of stage 1.</li>
<li><b>Response pairs</b> (Runs → Response pairs). The SL-CAI model answers each prompt twice.</li>
<li><b>AI labels</b> (Runs → AI labels). A feedback model reads both answers and a randomly drawn
comparison principle and says which is better, as a soft label. Check its judgement on the
Comparisons page, blind.</li>
<li><b>Preference model</b> (Runs → Preference model). A model with a single score output,
trained on the labelled pairs.</li>
<li><b>RLOO / PPO / DPO</b> (Runs → RLOO, PPO or DPO). RLOO (recommended) trains the policy to earn
a higher score from the preference model, judging each of several answers to a prompt against the
others, with a KL penalty to the SL-CAI policy; it needs no value model, so it is light. PPO does
the same as in the paper, with a value model, and needs a TRL that still has it (the button says
when it does not). DPO learns from the labelled pairs directly, without a separate preference
model. Any one is the end of stage 2, RL-CAI.</li>
<li><b>Before/after evaluation</b> (Runs → Before/after eval). Answer held-out prompts (never
trained on) with the base model and each adapter: how often each refuses red-team prompts (more
harmless) and helpful ones (over-refusal), with examples side by side. Read the examples, not
only the rates, and mind how few prompts they come from.</li>
</ol>

<h3>The method in the paper's terms</h3>
<dl>
<dt><b>SL-CAI</b></dt><dd>Stage 1: supervised fine-tuning on revisions the model wrote itself
under the constitution.</dd>
<dt><b>RL-CAI</b></dt><dd>Stage 2: reinforcement learning against a preference model trained on
AI feedback instead of human harm labels (RLAIF).</dd>
<dt><b>Critique request</b></dt><dd>The instruction that asks for a critique of an answer under
one principle, e.g. "point out anything harmful in the last answer".</dd>
<dt><b>Revision request</b></dt><dd>The instruction that asks for a rewrite that fixes what the
critique found.</dd>
<dt><b>Soft label</b></dt><dd>The feedback model's probability that answer A is better than B
(from the two option tokens, normalised), rather than a hard A or B. In the chain-of-thought mode
these probabilities are overconfident, so they are clamped (the paper: to 40–60 %).</dd>
<dt><b>Preference model</b></dt><dd>A model that gives an answer a single score; trained so the
preferred answer of each pair scores higher. It is the reward in PPO.</dd>
<dt><b>KL penalty</b></dt><dd>The price PPO pays for moving away from the SL-CAI policy. A higher
penalty keeps the answers closer to where they started.</dd>
<dt><b>Position bias</b></dt><dd>A feedback model may prefer whichever answer comes first. Asking
in both orders (A, B) and (B, A) and averaging cancels it; the size of the shift is recorded with
every label.</dd>
<dt><b>Reward hacking</b></dt><dd>The policy finds answers the preference model over-rates:
reward keeps rising while the KL rises and the answers become alike, preachy or evasive. Watch
reward, KL and entropy together on the Runs page and stop early.</dd>
</dl>

<h3>What to expect from the embedded 135M model</h3>
<p>The embedded model (SmolLM2-135M-Instruct) makes every step run quickly on a laptop, but it is
too small to critique itself well: its critiques often miss or invent problems, its revisions
mostly talk about the answer instead of improving it, and a constitution in its prompt changes
little. To get real results:</p>
<ul>
<li>let a stronger <b>teacher</b> model write the critiques and revisions (the writing model in
Critique &amp; revision; add one on the Models page), and a capable feedback model label the
pairs;</li>
<li>review the chains and <b>edit</b> the revisions yourself: human edits are good training
data;</li>
<li>read the <b>before/after evaluation</b> and its examples before you believe a change.</li>
</ul>

<h3>Runs: resume, cancel, start again</h3>
<ul>
<li>Starting the same job again continues an unfinished run with the same settings.</li>
<li>A finished run is never reopened: start again to make a new run.</li>
<li>Cancel keeps every finished batch; nothing already done is lost.</li>
</ul>
<p>Jobs run one at a time in the background; the status bar and the Runs page show the queue.
Press F1 to open this guide again.</p>
"""
