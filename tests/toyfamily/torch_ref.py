"""The toy family's PyTorch reference modules: the same networks with PyTorch's names and layouts."""

import torch
import torch.nn.functional as F
from torch import nn


class Generator(nn.Module):
    def __init__(self, z_dim=8, num_classes=2, ch=8):
        super().__init__()
        self.num_classes, self.ch = num_classes, ch
        self.fc = nn.Linear(z_dim + num_classes, 4 * 4 * ch)
        self.conv = nn.Conv2d(ch, 3, 3, 1, 1)

    def forward(self, z, y):
        h = F.relu(self.fc(torch.cat([z, F.one_hot(y, self.num_classes).float()], 1)))
        h = h.view(-1, 4, 4, self.ch).permute(0, 3, 1, 2)  # facejax reshapes NHWC
        h = F.interpolate(h, scale_factor=4, mode="nearest")
        return torch.tanh(self.conv(h))


class Discriminator(nn.Module):
    def __init__(self, num_classes=2, ch=8):
        super().__init__()
        self.conv1 = nn.Conv2d(3, ch, 4, 2, 1)
        self.conv2 = nn.Conv2d(ch, ch, 4, 2, 1)
        self.fc = nn.Linear(ch, num_classes)

    def forward(self, x, y):
        h = F.leaky_relu(self.conv1(x), 0.2)
        h = F.leaky_relu(self.conv2(h), 0.2).mean((2, 3))
        return self.fc(h).gather(1, y[:, None])[:, 0]
