"""A face's takes: the assigned Action plus the earlier ones kept on muted NLA tracks, and the audio each plays.

Every Animate writes a new Action and pushes the previous one onto a muted NLA track (action_writer). This module
lists them (newest first, with seed, style and audio from the metadata the operator stores on each Action),
makes one the assigned take, deletes one, and keeps the sequencer in step: each take's audio file has one sound
strip, and only the active take's strip plays, so four takes never mean four voices at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import bpy

from .action_writer import METADATA_KEY, PREVIOUS_TAKE_TRACK_PREFIX, push_to_muted_nla_track
from .audio_source import sound_strips

STRIP_METADATA_KEY = "audio_strip"  # in an Action's metadata: the name of the sound strip its audio plays from


@dataclass(frozen=True)
class Take:
    action_name: str
    active: bool
    seed: int | None
    identity: str
    emotion: str
    audio: str  # the recording's path as stored
    strip_name: str  # its sound strip, "" when none was added

    @property
    def style(self) -> str:
        return f"{self.identity} / {self.emotion}"

    @property
    def audio_name(self) -> str:
        return Path(self.audio).name if self.audio else ""


class TakeError(Exception):
    """A take operation that cannot be done; the message says why."""


def _take_of(action: bpy.types.Action, active: bool) -> Take | None:
    metadata = action.get(METADATA_KEY)
    if metadata is None:
        return None  # an Action this add-on did not write: not a take
    seed = metadata.get("seed")
    return Take(
        action_name=action.name,
        active=active,
        seed=int(seed) if seed is not None else None,
        identity=str(metadata.get("identity", "")),
        emotion=str(metadata.get("emotion", "")),
        audio=str(metadata.get("audio", "")),
        strip_name=str(metadata.get(STRIP_METADATA_KEY, "")),
    )


def _take_tracks(animation_data: bpy.types.AnimData) -> list[tuple[bpy.types.NlaTrack, bpy.types.Action]]:
    """(track, action) of every earlier take, oldest first (tracks are added on top)."""
    found = []
    for track in animation_data.nla_tracks:
        if track.name.startswith(PREVIOUS_TAKE_TRACK_PREFIX) and len(track.strips) == 1:
            action = track.strips[0].action
            if action is not None and action.get(METADATA_KEY) is not None:
                found.append((track, action))
    return found


def list_takes(key: bpy.types.Key | None) -> list[Take]:
    """The takes on a shape-key datablock, the active one first, then the earlier ones newest first."""
    if key is None or key.animation_data is None:
        return []
    animation_data = key.animation_data
    takes = []
    if animation_data.action is not None:
        active = _take_of(animation_data.action, active=True)
        if active is not None:
            takes.append(active)
    for _track, action in reversed(_take_tracks(animation_data)):
        take = _take_of(action, active=False)
        if take is not None:
            takes.append(take)
    return takes


def activate_take(scene: bpy.types.Scene, key: bpy.types.Key, action_name: str) -> Take:
    """Make `action_name` the assigned take; the current one goes onto a muted track like any earlier take."""
    animation_data = key.animation_data
    current = animation_data.action if animation_data is not None else None
    if current is not None and current.name == action_name:
        return _take_of(current, active=True) or _unknown(key, action_name)
    track, action = _find_track(key, action_name)
    slot = getattr(track.strips[0], "action_slot", None)
    animation_data.nla_tracks.remove(track)
    if current is not None:
        current_slot = getattr(animation_data, "action_slot", None)
        push_to_muted_nla_track(animation_data, current, current_slot, int(action.frame_range[0]))
    animation_data.action = action
    if slot is not None and hasattr(animation_data, "action_slot"):
        animation_data.action_slot = slot
    sync_take_strips(scene, key)
    return _take_of(action, active=True)


def delete_take(scene: bpy.types.Scene, key: bpy.types.Key, action_name: str) -> None:
    """Remove a take (its Action too, unless something else uses it). Deleting the active take makes the newest
    earlier take active; a sound strip no remaining take plays is removed."""
    animation_data = key.animation_data
    current = animation_data.action if animation_data is not None else None
    if current is not None and current.name == action_name and current.get(METADATA_KEY) is not None:
        action = current
        animation_data.action = None
        earlier = _take_tracks(animation_data)
        if earlier:
            activate_take(scene, key, earlier[-1][1].name)
    else:
        track, action = _find_track(key, action_name)
        animation_data.nla_tracks.remove(track)
    strip_name = str(action[METADATA_KEY].get(STRIP_METADATA_KEY, ""))
    if action.users == 0:
        bpy.data.actions.remove(action)
    still_played = {take.strip_name for take in list_takes(key)}
    if strip_name and strip_name not in still_played:
        editor = scene.sequence_editor
        strip = next((s for s in sound_strips(scene) if s.name == strip_name), None)
        if editor is not None and strip is not None:
            strips = editor.strips if hasattr(editor, "strips") else editor.sequences  # Blender < 5.0: sequences
            strips.remove(strip)
    sync_take_strips(scene, key)


def sync_take_strips(scene: bpy.types.Scene, key: bpy.types.Key) -> None:
    """Unmute the active take's sound strip and mute the strips only earlier takes play."""
    takes = list_takes(key)
    active = next((take.strip_name for take in takes if take.active), "")
    earlier = {take.strip_name for take in takes if not take.active and take.strip_name}
    for strip in sound_strips(scene):
        if strip.name == active:
            strip.mute = False
        elif strip.name in earlier:
            strip.mute = True


def _find_track(key: bpy.types.Key, action_name: str) -> tuple[bpy.types.NlaTrack, bpy.types.Action]:
    if key.animation_data is not None:
        for track, action in _take_tracks(key.animation_data):
            if action.name == action_name:
                return track, action
    return _unknown(key, action_name)


def _unknown(key: bpy.types.Key, action_name: str):
    names = ", ".join(take.action_name for take in list_takes(key)) or "none"
    raise TakeError(f"'{action_name}' is not a take of this face (its takes: {names})")
